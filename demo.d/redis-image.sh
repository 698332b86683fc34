#!/usr/bin/env bash
# Usage: demo.d/redis-image.sh OUTDIR
#
# Makes OUTDIR an OCI image layout (tag "latest") of a minimal Debian with redis-server, built from Debian's
# own packages: one `mmdebstrap` run (variant essential + redis-server, no docs/man pages/locales) whose
# essential hook saves the base system, then two gzip layers with `umoci` (base; redis-server and its
# libraries on top) and the config Docker's redis image has: Cmd ["redis-server","--protected-mode","no"],
# ExposedPorts 6379/tcp, WorkingDir /data.
#
# The result is cached under $NSRUN_DEMO_CACHE (default /var/cache/nsrun-demo), keyed by this script's
# sha256: a second run only copies it (hard links when on the same file system). Check it with
# `skopeo inspect oci:OUTDIR:latest`; push it with `skopeo copy oci:OUTDIR:latest docker://HOST:PORT/redis`.
# Needs root, network access to deb.debian.org, and the Debian packages mmdebstrap, umoci (Makefile).
set -euo pipefail

out=${1:?usage: $0 OUTDIR}
suite=${REDIS_IMAGE_SUITE:-bookworm}
cache=${NSRUN_DEMO_CACHE:-/var/cache/nsrun-demo}
key=$( { cat "$0"; echo "$suite"; } | sha256sum | cut -c1-16)
entry="$cache/redis-$key"

for tool in mmdebstrap umoci; do
  command -v "$tool" >/dev/null || { echo "$0: $tool is missing (apt-get install $tool)" >&2; exit 1; }
done
mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9                                    # concurrent demos build it once

if [ ! -f "$entry/index.json" ]; then
  work=$(mktemp -d "$cache/.redis-build.XXXXXX")
  [ -n "${REDIS_IMAGE_KEEP:-}" ] || trap 'rm -rf "$work"' EXIT
  # One deterministic time for every file of both trees (SOURCE_DATE_EPOCH): files the redis step does not
  # change compare equal, so the second layer holds only what installing redis-server added or changed.
  export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1700000000}
  slim=(--dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*'
        --dpkgopt='path-include=/usr/share/doc/*/copyright' --dpkgopt='path-exclude=/usr/share/locale/*'
        --dpkgopt='path-exclude=/usr/share/info/*' --dpkgopt='path-exclude=/usr/share/lintian/*')
  # What neither layer holds: the package cache (the essential hook runs before mmdebstrap cleans it), and
  # the API file systems a runtime mounts itself (/dev nodes included). tar's status 1 (a file changed while
  # read: /sys, mounted during the hook) is not a failure.
  excludes=("./var/cache/apt/archives/*.deb" "./var/cache/apt/*.bin" "./var/lib/apt/lists/*" "./proc/*"
            "./sys/*" "./dev/*")
  hook_excludes=$(printf " --exclude='%s'" "${excludes[@]}")
  untar=(tar --numeric-owner --xattrs -x)
  for pattern in "${excludes[@]}"; do untar+=(--exclude="$pattern"); done
  echo "redis image: building a Debian $suite root with redis-server (mmdebstrap; a minute or two)" >&2
  mmdebstrap --quiet --variant=essential --include=redis-server "${slim[@]}" \
    --essential-hook="tar -C \"\$1\" --numeric-owner --xattrs --mtime=@$SOURCE_DATE_EPOCH --clamp-mtime \
      --one-file-system --warning=no-file-changed -cf '$work/base.tar'$hook_excludes . || [ \$? -eq 1 ]" \
    "$suite" "$work/full.tar"
  layout="$work/oci"
  umoci init --layout "$layout"
  umoci new --image "$layout:latest"
  umoci unpack --image "$layout:latest" "$work/bundle" >/dev/null
  "${untar[@]}" -f "$work/base.tar" -C "$work/bundle/rootfs"
  umoci repack --refresh-bundle --history.created_by "mmdebstrap --variant=essential $suite" --image "$layout:latest" "$work/bundle"
  # The full tree replaces the base one: umoci's diff is what redis-server added (and any removal).
  find "$work/bundle/rootfs" -mindepth 1 -maxdepth 1 -exec rm -rf {} +
  "${untar[@]}" -f "$work/full.tar" -C "$work/bundle/rootfs"
  mkdir -p "$work/bundle/rootfs/data"
  umoci repack --history.created_by "apt-get install redis-server" --image "$layout:latest" "$work/bundle"
  umoci config --image "$layout:latest" --history.created_by "config" \
    --config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --config.cmd redis-server --config.cmd --protected-mode --config.cmd no \
    --config.exposedports 6379/tcp --config.workingdir /data \
    --config.label org.opencontainers.image.title=redis --config.label "org.nsrun.demo.key=$key"
  umoci gc --layout "$layout"
  rm -rf "$entry"
  mv "$layout" "$entry"
  find "$cache" -mindepth 1 -maxdepth 1 -name 'redis-*' ! -name "redis-$key" -exec rm -rf {} +  # older builds
fi

rm -rf "$out"
mkdir -p "$(dirname "$out")"
cp -rl "$entry" "$out" 2>/dev/null || cp -a "$entry" "$out"   # blobs are never written again: links do
echo "$out"
