#!/usr/bin/env bash
# scripts/release-check.sh [DIST]: check what scripts/release.sh wrote (default
# dist/), as .ci/run does. Needs root (dpkg --root, rpm --root), dpkg-dev,
# rpm, msitools, llvm-14 and jq. Every check prints what it looked at; the
# first failure stops with a message naming the file.
set -euo pipefail
export PATH="/usr/local/go/bin:$PATH" LC_ALL=C
root=$(cd "$(dirname "$0")/.." && pwd)
dist=$(cd "${1:-$root/dist}" && pwd)
fail() { printf 'release-check: FAIL: %s\n' "$*" >&2; exit 1; }
ok() { printf 'ok    %s\n' "$*"; }
for t in dpkg-deb dpkg rpm msiinfo msiextract llvm-lipo-14 jq unzip sha256sum go; do
	command -v "$t" >/dev/null || fail "missing tool $t"
done
work=$(mktemp -d "${TMPDIR:-/tmp}/tswcheck.XXXXXX")
trap 'rm -rf "$work"' EXIT

sums=$(cd "$dist" && ls ./*_checksums.txt 2>/dev/null) || fail "no *_checksums.txt in $dist"
[ "$(echo "$sums" | wc -l)" = 1 ] || fail "more than one checksums file in $dist"
version=${sums#./tsclientwatch_}
version=${version%_checksums.txt}
debversion=${version/-/\~}
echo "release $version in $dist"

# --- every artefact is there, and checksummed --------------------------------
expect=(
	"tsclientwatch_${version}_linux_amd64.tar.gz" "tsclientwatch_${version}_linux_arm64.tar.gz"
	"tsclientwatch_${version}_darwin_universal.tar.gz"
	"tsclientwatch_${version}_windows_amd64.zip" "tsclientwatch_${version}_windows_arm64.zip"
	"tsclientwatch_${debversion}-1_amd64.deb" "tsclientwatch_${debversion}-1_arm64.deb"
	"tsclientwatch-${debversion}-1.x86_64.rpm" "tsclientwatch-${debversion}-1.aarch64.rpm"
	"tsclientwatch_${version}_windows_amd64.msi"
	fleet/tsclientwatch_linux.ext fleet/tsclientwatch_linux_arm64.ext fleet/tsclientwatch_macos.ext
	fleet/tsclientwatch_windows.ext.exe fleet/tsclientwatch_windows_arm64.ext.exe
)
for os_arch in linux_amd64 linux_arm64 darwin_universal windows_amd64 windows_arm64; do
	for b in tsclientwatch.ext tsclientwatch tsclientwatch-plugin; do
		expect+=("sbom/tsclientwatch_${version}_$os_arch.$b.cdx.json")
	done
done
for f in "${expect[@]}"; do [ -s "$dist/$f" ] || fail "missing $dist/$f"; done
ok "${#expect[@]} artefacts present"
(cd "$dist" && sha256sum --quiet -c "$sums") || fail "checksums do not verify"
listed=$(cut -d' ' -f3- "$dist/$sums" | sort)
present=$(cd "$dist" && find . -type f ! -name "${sums#./}" -printf '%P\n' | sort)
[ "$listed" = "$present" ] || fail "checksums file does not list exactly the files in $dist: $(diff <(echo "$listed") <(echo "$present") || true)"
ok "sha256sum -c $sums: $(echo "$listed" | wc -l) files verify, none unlisted"

# --- archives ----------------------------------------------------------------
for p in linux_amd64 linux_arm64 darwin_universal windows_amd64 windows_arm64; do
	name=tsclientwatch_${version}_$p exe="" ext=tar.gz
	case $p in windows_*) exe=.exe ext=zip ;; esac
	if [ $ext = zip ]; then list=$(unzip -Z1 "$dist/$name.zip"); else list=$(tar -tzf "$dist/$name.tar.gz"); fi
	for f in "tsclientwatch.ext$exe" "tsclientwatch$exe" "tsclientwatch-plugin$exe" LICENSE README.md install.md \
		config.yaml.example osquery/extensions.load osquery/osquery.flags.example osquery/tsclientwatch.pack.json \
		fleet/agent-options.yml fleet/tsclient-executions.query.yml fleet/tsclient-executions.policy.yml; do
		grep -qxF "$name/$f" <<<"$list" || fail "$name.$ext lacks $name/$f"
	done
	if [ $ext = tar.gz ]; then
		bad=$(tar -tvzf "$dist/$name.tar.gz" | awk '$1 ~ /^.....w|^........w/ || $2 != "0/0"')
		[ -z "$bad" ] || fail "$name.tar.gz: group/other-writable or not root-owned: $bad"
		modes=$(tar -tvzf "$dist/$name.tar.gz" "$name/tsclientwatch.ext" | awk '{print $1}')
		[ "$modes" = -rwxr-xr-x ] || fail "$name.tar.gz: tsclientwatch.ext is $modes"
	fi
done
mkdir -p "$work/win"
unzip -q -d "$work/win" "$dist/tsclientwatch_${version}_windows_amd64.zip"
[ "$(tr -d '\r' <"$work/win/tsclientwatch_${version}_windows_amd64/osquery/extensions.load")" = 'C:\Program Files\osquery\extensions\tsclientwatch.ext.exe' ] ||
	fail "the Windows extensions.load does not name C:\\Program Files\\osquery\\extensions\\tsclientwatch.ext.exe"
ok "archives hold the binaries, docs, config example, osquery and Fleet files; tar entries root-owned, none group/other-writable"
archs=$(llvm-lipo-14 -archs "$dist/fleet/tsclientwatch_macos.ext" | xargs)
[ "$archs" = "x86_64 arm64" ] || fail "fleet/tsclientwatch_macos.ext is not universal: $archs"
ok "fleet/tsclientwatch_macos.ext is universal ($archs)"

# --- deb -----------------------------------------------------------------------
deb="$dist/tsclientwatch_${debversion}-1_amd64.deb"
contents=$(dpkg-deb -c "$deb")
awk '{ print "      " $0 }' <<<"$contents"
grep -qE '^-rwxr-xr-x root/root .* \./opt/tsclientwatch/tsclientwatch\.ext$' <<<"$contents" || fail "$deb: /opt/tsclientwatch/tsclientwatch.ext is not -rwxr-xr-x root/root"
grep -qE '^-rw-r----- root/root .* \./etc/tsclientwatch/config\.yaml$' <<<"$contents" || fail "$deb: /etc/tsclientwatch/config.yaml is not -rw-r----- root/root"
grep -qE '^-rwxr-xr-x root/root .* \./usr/bin/tsclientwatch$' <<<"$contents" || fail "$deb: no /usr/bin/tsclientwatch"
grep -qE '^-rwxr-xr-x root/root .* \./usr/libexec/tsclientwatch/tsclientwatch-plugin$' <<<"$contents" || fail "$deb: no /usr/libexec/tsclientwatch/tsclientwatch-plugin"
bad=$(awk '$1 ~ /^.....w|^........w/ || $2 != "root/root"' <<<"$contents")
[ -z "$bad" ] || fail "$deb: entries writable by group or others, or not root/root: $bad"
grep -qE '\./etc/osquery' <<<"$contents" && fail "$deb: ships files under /etc/osquery (osquery's own)"
[ "$(dpkg-deb -f "$deb" Architecture)" = amd64 ] || fail "$deb: Architecture $(dpkg-deb -f "$deb" Architecture)"
[ "$(dpkg-deb -f "$dist/tsclientwatch_${debversion}-1_arm64.deb" Architecture)" = arm64 ] || fail "arm64 deb has the wrong Architecture"
grep -qE '^drwx------ root/root .* \./var/lib/tsclientwatch/$' <<<"$contents" || fail "$deb: the state directory /var/lib/tsclientwatch is not drwx------ root/root"
dpkg-deb -I "$deb" conffiles | grep -qx /etc/tsclientwatch/config.yaml || fail "$deb: /etc/tsclientwatch/config.yaml is not a conffile"
ok "deb contents: extension root:root 0755, config 0640 conffile, state dir 0700, nothing group/other-writable, nothing under /etc/osquery"

# Install into a throwaway root, as a first install and as an upgrade.
R="$work/debroot"
mkdir -p "$R/var/lib/dpkg/info" "$R/var/lib/dpkg/updates"
touch "$R/var/lib/dpkg/status"
dpkg --root="$R" --force-script-chrootless -i "$deb" >"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log"; fail "dpkg --root -i $deb"; }
ext="$R/opt/tsclientwatch/tsclientwatch.ext"
[ "$(stat -c '%u:%g %a' "$ext")" = "0:0 755" ] || fail "installed extension is $(stat -c '%u:%g %a' "$ext"), want 0:0 755"
[ "$(stat -c '%u:%g %a' "$R/etc/tsclientwatch/config.yaml")" = "0:0 640" ] || fail "installed config is $(stat -c '%u:%g %a' "$R/etc/tsclientwatch/config.yaml")"
[ "$(stat -c '%u:%g %a' "$R/var/lib/tsclientwatch")" = "0:0 700" ] || fail "installed state directory is $(stat -c '%u:%g %a' "$R/var/lib/tsclientwatch"), want 0:0 700"
"$ext" --help >/dev/null 2>&1 || fail "$ext --help exits $? (fleetd's checkExec needs 0)"
"$ext" --version | grep -qF "tsclientwatch $version (commit " || fail "$ext --version: $("$ext" --version)"
"$R/usr/bin/tsclientwatch" version | grep -qF "tsclientwatch $version (commit " || fail "tsclientwatch version: $("$R/usr/bin/tsclientwatch" version)"
"$R/usr/libexec/tsclientwatch/tsclientwatch-plugin" --version | grep -qF "tsclientwatch $version " || fail "tsclientwatch-plugin --version"
"$R/usr/bin/tsclientwatch" config --config "$R/etc/tsclientwatch/config.yaml" >"$work/config.out" || fail "the shipped config does not load"
grep -q '^sources:' "$work/config.out" && fail "the shipped config sets sources (the extension's live default would not apply)"
ok "deb installed into a throwaway root: extension 0:0 755, config 0:0 640, state dir 0:0 700; --help exits 0; version $version everywhere; shipped config loads with no sources key"

# osquery's autoload checks (osquery/filesystem: safePermissions, isFileSafe),
# on every line of the shipped extensions.load, resolved inside the root.
while IFS= read -r line; do
	case $line in '' | '#'* | ';'*) continue ;; esac
	f="$R$line"
	[ -f "$f" ] || fail "extensions.load names $line, which the package does not install"
	[[ $line == *.ext ]] || fail "$line: osquery autoloads only names ending in .ext on Linux"
	[ "$(stat -c %u "$f")" = 0 ] || fail "$line: owner $(stat -c %u "$f"), osquery wants root"
	mode=$((8#$(stat -c %a "$f")))
	(( mode & 8#100 )) || fail "$line: not executable by its owner (S_IXUSR)"
	(( mode & 8#002 )) && fail "$line: writable by others (S_IWOTH)"
	dmode=$((8#$(stat -c %a "$(dirname "$f")")))
	(( dmode & 8#1000 )) && fail "$line: its directory is sticky (osquery refuses tmp-like directories)"
	ok "osquery would autoload $line: root-owned, S_IXUSR, not S_IWOTH, directory not sticky, name .ext"
done <"$R/usr/share/tsclientwatch/osquery/extensions.load"
grep -vqE '^\s*($|#|;)' "$R/usr/share/tsclientwatch/osquery/extensions.load" || fail "extensions.load lists nothing"

# Upgrade (reinstall) keeps an edited conffile and the state; remove keeps
# both, purge removes both (the state through the postrm, inside the root).
echo "# edited by the administrator" >>"$R/etc/tsclientwatch/config.yaml"
echo "stand-in for state.db" >"$R/var/lib/tsclientwatch/state.db"
dpkg --root="$R" --force-script-chrootless --force-confold -i "$deb" >"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log"; fail "dpkg reinstall"; }
grep -q "edited by the administrator" "$R/etc/tsclientwatch/config.yaml" || fail "reinstalling replaced the edited conffile"
dpkg --root="$R" --force-script-chrootless -r tsclientwatch >"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log"; fail "dpkg -r"; }
if [ -e "$ext" ] || [ ! -f "$R/etc/tsclientwatch/config.yaml" ]; then fail "dpkg -r: extension left behind or config removed"; fi
[ -f "$R/var/lib/tsclientwatch/state.db" ] || fail "dpkg -r deleted the state directory's state.db"
dpkg --root="$R" --force-script-chrootless --purge tsclientwatch >"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log"; fail "dpkg --purge"; }
[ ! -e "$R/etc/tsclientwatch/config.yaml" ] || fail "dpkg --purge left the config"
[ ! -e "$R/var/lib/tsclientwatch" ] || fail "dpkg --purge left the state directory $R/var/lib/tsclientwatch"
ok "deb reinstall keeps an edited conffile and the state; remove keeps both, purge removes both"

# --- rpm -----------------------------------------------------------------------
for a in x86_64 aarch64; do
	rpmf="$dist/tsclientwatch-${debversion}-1.$a.rpm"
	[ "$(rpm -qp --qf '%{ARCH}' "$rpmf" 2>/dev/null)" = $a ] || fail "$rpmf: arch $(rpm -qp --qf '%{ARCH}' "$rpmf")"
done
rpmf="$dist/tsclientwatch-${debversion}-1.x86_64.rpm"
list=$(rpm -qlvp "$rpmf" 2>/dev/null)
awk '{ print "      " $0 }' <<<"$list"
grep -qE '^-rwxr-xr-x +1 root +root .* /opt/tsclientwatch/tsclientwatch\.ext$' <<<"$list" || fail "$rpmf: /opt/tsclientwatch/tsclientwatch.ext is not -rwxr-xr-x root root"
grep -qE '^-rw-r----- +1 root +root .* /etc/tsclientwatch/config\.yaml$' <<<"$list" || fail "$rpmf: config is not -rw-r----- root root"
bad=$(awk '$1 ~ /^.....w|^........w/ || $3 != "root" || $4 != "root"' <<<"$list")
[ -z "$bad" ] || fail "$rpmf: group/other-writable or not root-owned: $bad"
grep -qE '^drwx------ +[0-9]+ root +root .* /var/lib/tsclientwatch$' <<<"$list" || fail "$rpmf: the state directory /var/lib/tsclientwatch is not drwx------ root root"
[ "$(rpm -qp --configfiles "$rpmf" 2>/dev/null)" = /etc/tsclientwatch/config.yaml ] || fail "$rpmf: config files: $(rpm -qp --configfiles "$rpmf")"
rpm -qp --qf '[%{FILEFLAGS:fflags} %{FILENAMES}\n]' "$rpmf" 2>/dev/null | grep -qE '^cn /etc/tsclientwatch/config\.yaml$' || fail "$rpmf: config is not %config(noreplace)"
RR="$work/rpmroot"
mkdir -p "$RR"
rpm --root "$RR" --initdb
rpm --root "$RR" -i --nodeps --noscripts "$rpmf" 2>"$work/rpm.log" || { cat "$work/rpm.log"; fail "rpm --root -i $rpmf"; }
[ "$(stat -c '%u:%g %a' "$RR/opt/tsclientwatch/tsclientwatch.ext")" = "0:0 755" ] || fail "rpm-installed extension is $(stat -c '%u:%g %a' "$RR/opt/tsclientwatch/tsclientwatch.ext")"
"$RR/opt/tsclientwatch/tsclientwatch.ext" --help >/dev/null 2>&1 || fail "rpm-installed extension --help"
ok "rpm: x86_64 and aarch64; extension root root 0755, config 0640 %config(noreplace), state dir 0700; installs into a throwaway root"

# --- MSI -----------------------------------------------------------------------
msi="$dist/tsclientwatch_${version}_windows_amd64.msi"
msiinfo suminfo "$msi" | grep -qx 'Template: x64;1033' || fail "$msi: template is not x64;1033: $(msiinfo suminfo "$msi" | grep Template)"
for tbl in File Component Directory; do msiinfo export "$msi" $tbl | tr -d '\r' >"$work/$tbl.idt"; done
sed 's/^/      /' "$work/Directory.idt" "$work/Component.idt" "$work/File.idt"
# Directory: EXTENSIONSDIR = ProgramFiles64Folder\osquery\extensions
dir() { awk -F'\t' -v d="$1" '$1 == d { print $2 "\t" $3 }' "$work/Directory.idt"; }
[ "$(dir EXTENSIONSDIR)" = "OSQUERYDIR	extensions" ] || fail "$msi: EXTENSIONSDIR is $(dir EXTENSIONSDIR)"
[ "$(dir OSQUERYDIR)" = "ProgramFiles64Folder	osquery" ] || fail "$msi: OSQUERYDIR is $(dir OSQUERYDIR)"
[ "$(dir INSTALLDIR)" = "ProgramFiles64Folder	tsclientwatch" ] || fail "$msi: INSTALLDIR is $(dir INSTALLDIR)"
comp() { awk -F'\t' -v c="$1" '$1 == c { print $3 "\t" $4 }' "$work/Component.idt"; }
[ "$(comp Extension)" = "EXTENSIONSDIR	256" ] || fail "$msi: component Extension is $(comp Extension) (want EXTENSIONSDIR, attribute 256: 64-bit)"
[ "$(comp CLI)" = "INSTALLDIR	256" ] || fail "$msi: component CLI is $(comp CLI)"
file() { awk -F'\t' -v f="$1" '$1 == f { print $2 "\t" $3 }' "$work/File.idt"; }
[ "$(file ExtensionExe)" = "Extension	tsclientwatch.ext.exe" ] || fail "$msi: ExtensionExe is $(file ExtensionExe)"
[ "$(file CLIExe)" = "CLI	tsclientwatch.exe" ] || fail "$msi: CLIExe is $(file CLIExe)"
(cd "$work" && msiextract -C msix "$msi" >/dev/null)
cmp -s "$work/msix/osquery/extensions/tsclientwatch.ext.exe" "$dist/fleet/tsclientwatch_windows.ext.exe" ||
	fail "$msi: the extension inside is not the release's windows/amd64 build"
ok "msi: x64;1033; tsclientwatch.ext.exe in ProgramFiles64Folder\\osquery\\extensions (64-bit component), CLI in ProgramFiles64Folder\\tsclientwatch; same bytes as the Fleet binary"

# --- stamps and SBOM -------------------------------------------------------------
# -trimpath keeps -ldflags out of "go version -m": the release's version,
# commit and date are checked through --version (the -X stamp) and the
# commit a second time through Go's own VCS stamp, on every shipped binary.
stamp=$("$dist/fleet/tsclientwatch_linux.ext" --version)
commit=$(sed -n 's/.*(commit \([0-9a-f]*\)\(+dirty\)\{0,1\}, built \([^,]*\),.*/\1/p' <<<"$stamp")
built=$(sed -n 's/.*(commit [0-9a-f]*\(+dirty\)\{0,1\}, built \([^,]*\),.*/\2/p' <<<"$stamp")
modified=false; [[ $stamp == *"+dirty, built"* ]] && modified=true
[[ $commit =~ ^[0-9a-f]{40}$ ]] || fail "fleet/tsclientwatch_linux.ext --version names no commit: $stamp"
n=0
while IFS= read -r -d '' bin; do
	m=$(go version -m "$bin") || fail "go version -m $bin"
	for want in "build	CGO_ENABLED=0" "build	-trimpath=true" "build	vcs=git" "build	vcs.revision=$commit" \
		"build	vcs.time=$built" "build	vcs.modified=$modified"; do
		grep -qF -- "$want" <<<"$m" || fail "go version -m ${bin#"$dist"/} lacks '$want' (built in a git worktree? Go stamps VCS information only where .git is a directory):
$m"
	done
	# a pseudo-version naming the commit, or the tag of a release
	grep -qE "^[[:space:]]+mod[[:space:]]+github.com/tsclientwatch/tsclientwatch[[:space:]]+(v[^[:space:]]*-${commit:0:12}|v${version//./\\.})([+.]dirty)?[[:space:]]*\$" <<<"$m" ||
		fail "go version -m ${bin#"$dist"/}: the main module's version is not the commit's pseudo-version: $(grep -E '^[[:space:]]+mod' <<<"$m")"
	n=$((n + 1))
done < <(mkdir -p "$work/lin" && tar -C "$work/lin" -xzf "$dist/tsclientwatch_${version}_linux_amd64.tar.gz" &&
	find "$dist/fleet" "$work/lin" "$work/win" -type f \( -name 'tsclientwatch*.ext*' -o -name tsclientwatch -o -name 'tsclientwatch*.exe' -o -name tsclientwatch-plugin \) -print0 | sort -z)
[ "$n" = 11 ] || fail "go version -m checked $n binaries, want 11 (5 Fleet, 3 linux/amd64, 3 windows/amd64)"
grep -aqF "$version" "$dist/fleet/tsclientwatch_linux.ext" || fail "the version string is not in the binary"
ok "--version '$stamp'; go version -m on $n binaries: CGO_ENABLED=0, -trimpath=true, vcs.revision=$commit, vcs.time=$built, vcs.modified=$modified, pseudo-version of ${commit:0:12}"
for f in "$dist"/sbom/*.cdx.json; do
	jq -e --arg v "$version" '.bomFormat == "CycloneDX" and (.components | length) > 0' "$f" >/dev/null || fail "$f is not a CycloneDX SBOM with components"
done
jq -e '[.components[].name] | index("github.com/osquery/osquery-go") != null' \
	"$dist/sbom/tsclientwatch_${version}_linux_amd64.tsclientwatch.ext.cdx.json" >/dev/null || fail "the extension's SBOM lacks osquery-go"
ok "$(find "$dist/sbom" -name '*.cdx.json' | wc -l) CycloneDX SBOMs"
echo "release-check: all checks passed for $version"
