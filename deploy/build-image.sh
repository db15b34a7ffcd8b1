#!/usr/bin/env bash
# Builds the aspflow container image without any container registry: the binary is built by
# cargo on this host, and the image starts from `scratch` with only
#   /usr/local/bin/aspflow, the shared libraries it links to (as `ldd` lists them),
#   /etc/passwd, /etc/group (root, and aspflow = uid/gid 65532), /etc/nsswitch.conf,
#   an empty /tmp, and /var/lib/aspflow owned by 65532 (the volume for the log and the key).
# The image's settings are those of deploy/Containerfile (user, volume, port, env, entrypoint).
#
# Usage: deploy/build-image.sh [--binary FILE] [--tag NAME] [--engine podman|buildah|docker]
#                              [--output FILE.tar]
#   --binary FILE   use this aspflow binary instead of `cargo build --release --locked`
#   --tag NAME      image name (default aspflow:VERSION, VERSION from `aspflow --version`)
#   --engine        which tool builds the image (default: the first of podman, buildah,
#                   docker found). FROM scratch needs no registry with any of them.
#   --output FILE   also save the image as an OCI archive (podman, buildah) or a docker
#                   archive (docker) to FILE, for `podman load` / `docker load` elsewhere
#
# Debian 12: apt-get install podman (or buildah). The binary links to the host's glibc, and
# those very libraries go into the image, so the image does not depend on the distribution of
# the machine that runs it (only on its CPU architecture, the build host's).
set -euo pipefail

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }

binary="" tag="" engine="" output=""
while [ $# -gt 0 ]; do
  case "$1" in
    --binary) binary="${2:?--binary needs a file}"; shift 2 ;;
    --tag) tag="${2:?--tag needs a name}"; shift 2 ;;
    --engine) engine="${2:?--engine needs podman, buildah or docker}"; shift 2 ;;
    --output) output="${2:?--output needs a file}"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "build-image.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
uid=65532

if [ -z "$engine" ]; then
  for e in podman buildah docker; do
    if command -v "$e" >/dev/null 2>&1; then engine="$e"; break; fi
  done
fi
case "$engine" in
  podman|buildah|docker) command -v "$engine" >/dev/null 2>&1 \
    || { echo "build-image.sh: $engine not found" >&2; exit 2; } ;;
  "") echo "build-image.sh: no podman, buildah or docker (Debian: apt-get install podman)" >&2; exit 2 ;;
  *) echo "build-image.sh: --engine must be podman, buildah or docker" >&2; exit 2 ;;
esac
command -v ldd >/dev/null 2>&1 || { echo "build-image.sh: ldd not found" >&2; exit 2; }

if [ -z "$binary" ]; then
  (cd "$repo" && cargo build --release --locked)
  binary="$repo/target/release/aspflow"
fi
[ -x "$binary" ] || { echo "build-image.sh: $binary is not an executable" >&2; exit 2; }
version="$("$binary" --version)"            # "aspflow 0.1.0"; also proves it runs here
version="${version##* }"
[ -n "$tag" ] || tag="aspflow:$version"

stage="$(mktemp -d "${TMPDIR:-/tmp}/aspflow-image.XXXXXX")"
trap 'rm -rf "$stage"' EXIT
root="$stage/rootfs"
mkdir -p "$root/usr/local/bin" "$root/etc" "$root/tmp" "$stage/state"
chmod 1777 "$root/tmp"
chmod 0750 "$stage/state"
install -m 0755 "$binary" "$root/usr/local/bin/aspflow"

# The libraries and the dynamic loader, each at the path the binary asks for (cp -L: the file,
# not the symlink). A static binary has none ("not a dynamic executable").
libs="$(ldd "$binary" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' || true)"
for lib in $libs; do
  mkdir -p "$root$(dirname "$lib")"
  cp -L "$lib" "$root$lib"
done
if ldd "$binary" 2>&1 | grep -q 'not found'; then
  echo "build-image.sh: a library of $binary is missing on this host:" >&2
  ldd "$binary" >&2
  exit 1
fi

cat > "$root/etc/passwd" <<EOF
root:x:0:0:root:/root:/sbin/nologin
aspflow:x:$uid:$uid:aspflow:/var/lib/aspflow:/sbin/nologin
EOF
cat > "$root/etc/group" <<EOF
root:x:0:
aspflow:x:$uid:
EOF
# glibc (2.34+) resolves hosts (e.g. a PostgreSQL server's name) with its built-in files and
# dns modules; the engine supplies /etc/hosts and /etc/resolv.conf at run time.
cat > "$root/etc/nsswitch.conf" <<'EOF'
passwd: files
group: files
hosts: files dns
EOF

# Keep in step with the runtime stage of deploy/Containerfile.
cat > "$stage/Containerfile" <<EOF
FROM scratch
COPY rootfs/ /
COPY --chown=$uid:$uid state/ /var/lib/aspflow/
USER $uid:$uid
WORKDIR /var/lib/aspflow
ENV ASPFLOW_DB=sqlite:///var/lib/aspflow/aspflow.db \\
    ASPFLOW_SIGNING_KEY=/var/lib/aspflow/aspflow-signing.key \\
    ASPFLOW_LISTEN=0.0.0.0:50051 \\
    NO_COLOR=1
VOLUME ["/var/lib/aspflow"]
EXPOSE 50051
STOPSIGNAL SIGTERM
LABEL org.opencontainers.image.title="aspflow" \\
      org.opencontainers.image.version="$version" \\
      org.opencontainers.image.licenses="Apache-2.0"
ENTRYPOINT ["/usr/local/bin/aspflow"]
CMD ["serve"]
EOF

echo "build-image.sh: $tag from $binary ($(du -sh "$root" | cut -f1) in the image) with $engine"
case "$engine" in
  podman) podman build --format oci -f "$stage/Containerfile" -t "$tag" "$stage" ;;
  buildah) buildah build --format oci -f "$stage/Containerfile" -t "$tag" "$stage" ;;
  docker) docker build -f "$stage/Containerfile" -t "$tag" "$stage" ;;
esac

if [ -n "$output" ]; then
  case "$engine" in
    podman) podman save --format oci-archive -o "$output" "$tag" ;;
    buildah) buildah push "$tag" "oci-archive:$output:$tag" ;;
    docker) docker save -o "$output" "$tag" ;;
  esac
  echo "build-image.sh: saved to $output"
fi
runner=$engine; [ "$engine" = buildah ] && runner=podman
echo "build-image.sh: built $tag; try: $runner run --rm $tag --version"
