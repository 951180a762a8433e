#!/usr/bin/env bash
# build-image.sh: build pgwarden:15 with podman where no image registry is
# reachable: the base image is made from Debian's archive by debootstrap,
# then the Containerfile builds on it. Run from anywhere, as root.
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
work=${WORK:-/var/tmp/pgwarden-image}
suite=${SUITE:-bookworm}
mkdir -p "$work"
if ! podman image exists "localhost/debian:$suite"; then
	rm -rf "$work/rootfs"
	debootstrap --variant=minbase "$suite" "$work/rootfs"
	tar -C "$work/rootfs" -c . | podman import - "localhost/debian:$suite"
fi
podman build --network=host --build-arg "BASE=localhost/debian:$suite" \
	-f "$src/deploy/k8s/Containerfile" -t pgwarden:15 "$src"
