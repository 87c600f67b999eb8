#!/usr/bin/env bash
# scripts/release.sh: build every release artefact of the working tree into dist/.
#
# No arguments, no network (beyond the Go module proxy for modules not yet in
# the module cache), no tag needed. On a commit tagged vX.Y.Z with a clean
# tree the version is X.Y.Z; otherwise it is a snapshot,
# <next patch or 0.0.0>-snapshot.<commit time>.g<commit>, with "+dirty" on the
# commit when the tree has changes. Timestamps come from the commit
# (SOURCE_DATE_EPOCH), so two runs on the same tree give identical bytes.
#
# Writes (docs/install.md describes each):
#   dist/tsclientwatch_<v>_{linux_amd64,linux_arm64,darwin_universal}.tar.gz
#   dist/tsclientwatch_<v>_{windows_amd64,windows_arm64}.zip
#   dist/tsclientwatch_<deb version>_{amd64,arm64}.deb
#   dist/tsclientwatch-<rpm version>-1.{x86_64,aarch64}.rpm
#   dist/tsclientwatch_<v>_windows_amd64.msi
#   dist/fleet/tsclientwatch_{linux,linux_arm64,macos}.ext, tsclientwatch_windows{,_arm64}.ext.exe
#   dist/sbom/tsclientwatch_<v>_<platform>.<binary>.cdx.json     (CycloneDX, one per shipped binary)
#   dist/tsclientwatch_<v>_checksums.txt                         (sha256sum -c, over all of the above)
#
# Tools: Go (go.mod's version), git, and Debian packages llvm-14 (llvm-lipo-14),
# wixl and msitools (msibuild, msiinfo), faketime, zip, jq. nfpm and
# cyclonedx-gomod are pinned in tools/go.mod and run with "go tool".
# Environment: DIST (output directory, default dist), SOURCE_DATE_EPOCH and
# TSCLIENTWATCH_VERSION override what git says (for a tree without git).
set -euo pipefail
{ # read whole before running: editing the file during a run cannot change it
export PATH="/usr/local/go/bin:$PATH"
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
dist=$(realpath -m "${DIST:-$root/dist}")
start=$(date +%s)

say() { printf '[%4ds] %s\n' $(( $(date +%s) - start )) "$*"; }
die() { printf 'release.sh: %s\n' "$*" >&2; exit 1; }

# --- tools -------------------------------------------------------------------
missing=()
need() { command -v "$1" >/dev/null 2>&1 || missing+=("$1 (apt-get install $2)"); }
need go "golang, or Go from go.dev"
need git git
need llvm-lipo-14 llvm-14
need wixl wixl
need msibuild msitools
need msiinfo msitools
need faketime faketime
need zip zip
need sha256sum coreutils
need sha1sum coreutils
need gzip gzip
need jq jq
[ ${#missing[@]} -eq 0 ] || die "missing tools: ${missing[*]}"
tool() { go tool -modfile="$root/tools/go.mod" "$@"; }
# Fetch and build the pinned tools first: the SBOM step runs offline.
tool nfpm --version >/dev/null 2>&1 || tool nfpm --version || die "cannot build nfpm from tools/go.mod"
tool cyclonedx-gomod version >/dev/null 2>&1 || tool cyclonedx-gomod version || die "cannot build cyclonedx-gomod from tools/go.mod"

# --- version, commit, time ---------------------------------------------------
if git -C "$root" rev-parse --git-dir >/dev/null 2>&1; then
	commit=$(git rev-parse HEAD)
	# Any change to the tree makes a dirty snapshot; the output is not one.
	exclude=(); [[ $dist == "$root"/* ]] && exclude=(":(exclude)${dist#"$root"/}")
	dirty=$(git status --porcelain --untracked-files=normal -- . "${exclude[@]}")
	epoch=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct HEAD)}
	tag=$(git describe --tags --exact-match --match 'v[0-9]*' HEAD 2>/dev/null || true)
	last=$(git describe --tags --abbrev=0 --match 'v[0-9]*' HEAD 2>/dev/null || true)
else
	if [ -z "${SOURCE_DATE_EPOCH:-}" ] || [ -z "${TSCLIENTWATCH_VERSION:-}" ]; then
		die "not a git checkout: set SOURCE_DATE_EPOCH and TSCLIENTWATCH_VERSION"
	fi
	commit=unknown dirty="" epoch=$SOURCE_DATE_EPOCH tag="" last=""
fi
if [ -n "${TSCLIENTWATCH_VERSION:-}" ]; then
	version=${TSCLIENTWATCH_VERSION#v}
elif [ -n "$tag" ] && [ -z "$dirty" ]; then
	version=${tag#v}
else
	base=0.0.0
	if [ -n "$last" ]; then
		IFS=. read -r ma mi pa <<<"${last#v}"
		base="$ma.$mi.$((${pa%%[-+]*} + 1))"
	fi
	version="$base-snapshot.$(date -u -d "@$epoch" +%Y%m%d%H%M%S).g${commit:0:7}"
fi
[ -n "$dirty" ] && commit="$commit+dirty"
[[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.]+)?$ ]] || die "version $version is not semver X.Y.Z[-pre]"
builddate=$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)
export SOURCE_DATE_EPOCH=$epoch TZ=UTC LC_ALL=C
umask 022
say "tsclientwatch $version (commit $commit, date $builddate) -> $dist/"

case $(realpath -m "$dist") in / | "$root" | "$HOME") die "refusing to use $dist as the output directory (it is emptied first)" ;; esac
work=$(mktemp -d "${TMPDIR:-/tmp}/tswrelease.XXXXXX")
trap 'rm -rf "$work"' EXIT
rm -rf "$dist"
mkdir -p "$dist/fleet" "$dist/sbom"

# cmd/go records the commit in each binary (vcs.revision, vcs.time,
# vcs.modified and a pseudo-version, shown by "go version -m") only where .git
# is a directory: in a git worktree (.git is a file) it silently records
# nothing. Build a worktree's commit from a clone, so every checkout of a
# commit gives the same bytes.
if [ -f "$root/.git" ]; then
	[ -z "$dirty" ] || die "$root is a git worktree with uncommitted changes, where Go records no VCS information: commit them (or build from a clone)"
	say "git worktree: building commit ${commit:0:12} from a clone (Go stamps VCS information only where .git is a directory)"
	{ git clone -q --no-checkout "$root" "$work/src" && git -C "$work/src" checkout -q --detach "$commit"; } || die "cannot clone $root at $commit"
	root=$work/src
	cd "$root"
fi

# --- binaries ----------------------------------------------------------------
pkg=github.com/tsclientwatch/tsclientwatch/internal/version
ldflags="-s -w -X $pkg.version=$version -X $pkg.commit=$commit -X $pkg.date=$builddate"
targets=(linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64 windows/arm64)
binaries=(tsclientwatch-ext:tsclientwatch.ext tsclientwatch:tsclientwatch tsclientwatch-plugin:tsclientwatch-plugin)
for t in "${targets[@]}"; do
	os=${t%/*} arch=${t#*/}
	exe=""; [ "$os" = windows ] && exe=.exe
	say "build $os/$arch"
	for b in "${binaries[@]}"; do
		# -trimpath keeps -ldflags out of the build information, so Go's own
		# VCS stamp (vcs.revision, vcs.time, vcs.modified; "go version -m")
		# is what records the commit there.
		CGO_ENABLED=0 GOOS=$os GOARCH=$arch GOFLAGS='' go build -trimpath -buildvcs=auto \
			-ldflags "$ldflags" -o "$work/bin/${os}_$arch/${b#*:}$exe" "./cmd/${b%%:*}"
	done
done
say "universal darwin binaries (llvm-lipo-14)"
mkdir -p "$work/bin/darwin_universal"
for b in "${binaries[@]}"; do
	llvm-lipo-14 -create -output "$work/bin/darwin_universal/${b#*:}" \
		"$work/bin/darwin_amd64/${b#*:}" "$work/bin/darwin_arm64/${b#*:}"
done
find "$work/bin" -type f -exec chmod 0755 {} + -exec touch -d "@$epoch" {} +

# --- archives ----------------------------------------------------------------
# stage DIR OS BIN: the archive's tree: binaries, docs, config and osquery examples.
stage() {
	local dir=$1 os=$2 bin=$3 exe="" load=extensions.load flags=osquery.flags
	[ "$os" = windows ] && exe=.exe load=extensions.load.windows flags=osquery.flags.windows
	mkdir -p "$dir/osquery" "$dir/fleet"
	install -m 0755 "$bin/tsclientwatch.ext$exe" "$bin/tsclientwatch$exe" "$bin/tsclientwatch-plugin$exe" "$dir/"
	install -m 0644 LICENSE README.md docs/install.md "$dir/"
	install -m 0644 packaging/config.yaml "$dir/config.yaml.example"
	install -m 0644 "deploy/osquery/$load" "$dir/osquery/extensions.load"
	install -m 0644 "deploy/osquery/$flags" "$dir/osquery/osquery.flags.example"
	install -m 0644 deploy/osquery/tsclientwatch.pack.json "$dir/osquery/"
	install -m 0644 deploy/fleet/*.yml "$dir/fleet/"
	find "$dir" -exec touch -h -d "@$epoch" {} +
}
for p in linux_amd64 linux_arm64 darwin_universal windows_amd64 windows_arm64; do
	name=tsclientwatch_${version}_$p
	stage "$work/archive/$name" "${p%_*}" "$work/bin/$p"
	if [ "${p%_*}" = windows ]; then
		say "zip $name.zip"
		(cd "$work/archive" && find "$name" -print | sort | zip -q -X -D "$work/$name.zip" -@)
		mv "$work/$name.zip" "$dist/"
	else
		say "tar.gz $name.tar.gz"
		tar -C "$work/archive" --sort=name --mtime="@$epoch" --owner=0 --group=0 --numeric-owner \
			--format=gnu -cf - "$name" | gzip -n >"$dist/$name.tar.gz"
	fi
done

# --- deb and rpm (nfpm) ------------------------------------------------------
for arch in amd64 arm64; do
	for packager in deb rpm; do
		say "$packager $arch (nfpm)"
		TSW_VERSION=$version TSW_ARCH=$arch TSW_STAGE="$work/bin/linux_$arch" TSW_ROOT="$root" \
			tool nfpm package --config packaging/nfpm.yaml --packager "$packager" --target "$dist/" >"$work/nfpm.log" 2>&1 ||
			{ cat "$work/nfpm.log" >&2; die "nfpm $packager $arch failed"; }
	done
done

# --- MSI (wixl) --------------------------------------------------------------
# wixl stamps the current time and a random package code into the summary
# information: faketime pins the time to the commit's, and msibuild sets a
# package code derived from the version and commit. The ProductCode is new per
# version (MajorUpgrade), derived the same way.
say "msi windows/amd64 (wixl)"
msidir="$work/msi"
stage "$msidir" windows "$work/bin/windows_amd64"
msiversion=${version%%-*}
# guid NAME: a name-based (SHA-1, RFC 4122 version 5 layout) GUID for NAME in
# this version and commit: new for every build, the same for a rebuild.
guid() {
	local h
	h=$(printf 'tsclientwatch/%s/%s/%s' "$1" "$version" "$commit" | sha1sum | cut -c1-32)
	printf '%s-%s-5%s-%x%s-%s\n' "${h:0:8}" "${h:8:4}" "${h:13:3}" $(( (16#${h:16:1} & 3) | 8 )) "${h:17:3}" "${h:20:12}" | tr '[:lower:]' '[:upper:]'
}
msi="$dist/tsclientwatch_${version}_windows_amd64.msi"
fakedate=$(date -u -d "@$epoch" '+%Y-%m-%d %H:%M:%S')
# wixl reads File/@Source relative to the current directory: run it in the stage.
(cd "$msidir" && faketime "$fakedate" wixl -a x64 -D Version="$msiversion" -D ProductCode="$(guid product)" \
	-o "$msi" "$root/packaging/tsclientwatch.wxs") 2>"$work/wixl.log" || { cat "$work/wixl.log" >&2; die "wixl failed"; }
faketime "$fakedate" msibuild "$msi" -s "tsclientwatch $version" tsclientwatch "x64;1033" "{$(guid package)}"

# --- Fleet raw binaries ------------------------------------------------------
say "fleet binaries"
install -m 0755 "$work/bin/linux_amd64/tsclientwatch.ext" "$dist/fleet/tsclientwatch_linux.ext"
install -m 0755 "$work/bin/linux_arm64/tsclientwatch.ext" "$dist/fleet/tsclientwatch_linux_arm64.ext"
install -m 0755 "$work/bin/darwin_universal/tsclientwatch.ext" "$dist/fleet/tsclientwatch_macos.ext"
install -m 0755 "$work/bin/windows_amd64/tsclientwatch.ext.exe" "$dist/fleet/tsclientwatch_windows.ext.exe"
install -m 0755 "$work/bin/windows_arm64/tsclientwatch.ext.exe" "$dist/fleet/tsclientwatch_windows_arm64.ext.exe"

# --- SBOM (cyclonedx-gomod) --------------------------------------------------
# One CycloneDX document per shipped binary and platform, from the module list
# Go embedded in that very binary ("bin" mode reads what "go version -m"
# shows), with licences detected from the module cache. GOPROXY=off keeps it
# offline: the main module is not in the cache, so its licence is set here.
# Two at a time: licence detection is the slow part and runs on one core.
say "sbom: 15 CycloneDX documents (cyclonedx-gomod)"
for p in linux_amd64 linux_arm64 darwin_universal windows_amd64 windows_arm64; do
	exe=""; [ "${p%_*}" = windows ] && exe=.exe
	for b in "${binaries[@]}"; do
		printf '%s\t%s\t%s\n' "$dist/sbom/tsclientwatch_${version}_$p.${b#*:}.cdx.json" \
			"urn:uuid:$(guid "sbom/$p/${b%%:*}" | tr '[:upper:]' '[:lower:]')" "$work/bin/$p/${b#*:}$exe"
	done
done >"$work/sbom.list"
export GOPROXY=off
# shellcheck disable=SC2016
xargs -P 2 -L 1 -d '\n' bash -c 'IFS=$(printf "\t") read -r out serial bin <<<"$3"
	go tool -modfile="$1/tools/go.mod" cyclonedx-gomod bin -json -licenses -notimestamp -version "v$2" \
		-serial "$serial" -output "$out.tmp" "$bin" 2>"$out.log" || { cat "$out.log" >&2; exit 255; }
	jq --indent 2 ".metadata.component.licenses = [{license: {id: \"Apache-2.0\"}}]" "$out.tmp" >"$out" &&
		rm -f "$out.tmp" "$out.log"' sbom "$root" "$version" <"$work/sbom.list" || die "cyclonedx-gomod failed (see above)"
unset GOPROXY

# --- checksums ---------------------------------------------------------------
sums="tsclientwatch_${version}_checksums.txt"
(cd "$dist" && find . -type f -printf '%P\n' | sort | xargs sha256sum) >"$work/$sums"
mv "$work/$sums" "$dist/$sums"
find "$dist" -exec touch -h -d "@$epoch" {} +

say "done: $(find "$dist" -type f | wc -l) files in $dist/"
(cd "$dist" && find . -type f -printf '%P\t%s\n' | sort | awk -F'\t' '{ printf "  %10d  %s\n", $2, $1 }')
exit
}
