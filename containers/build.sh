#!/bin/sh
# Build the lab image (default tag labsim-lab:latest).
#
#   containers/build.sh [--offline] [--tag TAG]
#
# With a registry, the image starts from debian:bookworm-slim. Without one
# (or with --offline) a base is bootstrapped from this host's Debian package
# sources with mmdebstrap and imported, so the build needs no registry.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
project=$(dirname "$here")
tag=labsim-lab:latest
# What the lab needs from Debian (iproute2 for `ss`, netcat-openbsd for `nc`: a learner
# looks at listeners as on a real host); the Dockerfile checks the same list. The base
# image's tag carries a digest of it, so a changed list bootstraps a new base.
packages="python3 openssl curl procps passwd less nano vim-tiny ca-certificates iproute2 netcat-openbsd"
base_tag=labsim-base:bookworm-$(printf '%s' "$packages" | cksum | cut -d' ' -f1)
offline=no
python=${PYTHON:-python3}

while [ $# -gt 0 ]; do
    case "$1" in
        --offline) offline=yes ;;
        --tag) tag=$2; shift ;;
        *) echo "build.sh: unknown option: $1" >&2; exit 2 ;;
    esac
    shift
done

say() { echo "build.sh: $*" >&2; }

base=""
if [ "$offline" = no ]; then
    if docker image inspect debian:bookworm-slim >/dev/null 2>&1; then
        base=debian:bookworm-slim
    elif timeout 60 docker pull -q debian:bookworm-slim >/dev/null 2>&1; then
        base=debian:bookworm-slim
    else
        say "no registry reachable: bootstrapping the base image offline"
    fi
fi

if [ -z "$base" ]; then
    if ! docker image inspect "$base_tag" >/dev/null 2>&1; then
        command -v mmdebstrap >/dev/null 2>&1 || { say "mmdebstrap is needed for an offline build (apt-get install mmdebstrap)"; exit 1; }
        say "mmdebstrap bookworm -> $base_tag (about a minute)"
        mmdebstrap --variant=minbase --quiet \
            --include="$(echo $packages | tr ' ' ,)" \
            bookworm - | docker import - "$base_tag" >/dev/null
    fi
    base=$base_tag
fi

say "building the wheel"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/dist"
"$python" -m pip wheel --no-deps --quiet -w "$work/dist" "$project" >/dev/null
cp "$here/Dockerfile" "$work/Dockerfile"

source=$("$python" "$here/source_hash.py" "$project")
say "docker build $tag from $base (source $source)"
docker build -q --build-arg "BASE=$base" --label "org.labsim.source=$source" -t "$tag" "$work" >/dev/null
say "built $tag"
