#!/usr/bin/env bash
# corpus.sh: fetch the real test logs that may not live in this repository,
# at pinned commits, check the SHA-256 of every file, and lay them out like
# ../shared/data, where the tests look for them. Run with --help.
set -euo pipefail

usage() {
	cat <<'EOF'
Usage: scripts/corpus.sh [options] [DEST]

Fetches the real logs whose licences keep them out of the repository, at
pinned commits, verifies the SHA-256 of every file against the hash recorded
in this script, and writes them into DEST laid out like ../shared/data:

  evtx-corpus/attack-samples/  275 files of sbousseaden/EVTX-ATTACK-SAMPLES
                               (GPL-3.0)
  ecs/                         3 documents from elastic/beats and
                               elastic/endpoint-package (Elastic License 2.0)

It also copies the third-party logs the repository holds (testdata/thirdparty)
to their places there (evtx/, evtx-rdp/, json/, evtx-corpus/evtx-rs/), so that
DEST is the whole data set the tests and benchmarks read.

DEST defaults to $TSCLIENTWATCH_SHARED_DATA when set, else ../shared/data
beside the checkout. The tests read the same place; point
TSCLIENTWATCH_SHARED_DATA at DEST if you choose another.

Files already in DEST with the right hash are kept (a second run fetches
nothing); a file with another hash is reported and left alone unless --force.
Nothing unverified is ever left in DEST. Fetching needs git and network access
to the repositories (GitHub by default); git fetches only the pinned commit
and, from the large repositories, only the files listed.

Options:
  --list          print every file: set, destination, source, hash; fetch nothing
  --check         verify the files in DEST, fetch nothing; exit 1 if any is
                  missing or differs
  --from DIR      take the outside files from DIR, laid out like DEST (another
                  machine's copy), instead of fetching them
  --git-base URL  fetch OWNER/REPO from URL/OWNER/REPO instead of
                  https://github.com (a mirror; file:///srv/git works)
  --only SET      only this set: attack-samples, ecs or thirdparty (repeatable)
  --force         replace files in DEST whose hash differs
  -h, --help      this text

Exit status: 0 every selected file is in DEST and verified; 1 a file could not
be fetched, copied or verified (each is named); 2 wrong usage.
EOF
}

prog=corpus.sh
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

usage_error() {
	printf '%s: %s\n' "$prog" "$*" >&2
	printf 'Try scripts/corpus.sh --help\n' >&2
	exit 2
}

# selected SET: whether --only allows the set.
selected() {
	[ ${#only[@]} -eq 0 ] && return 0
	local s
	for s in "${only[@]}"; do
		[ "$s" = "$1" ] && return 0
	done
	return 1
}

sha256() { sha256sum -- "$1" | cut -d' ' -f1; }

# rows prints the manifest as tab-separated rows:
#   set  dest  repo  ref  path  sha256
# path "-" means: the file at the pinned commit whose path, with every "/"
# and " " turned into "_", is dest's file name (how ../shared/data flattened
# EVTX-ATTACK-SAMPLES). repo "." is this repository. CORPUS_MANIFEST names
# another manifest of the same format (the tests use it with local mirrors).
rows() {
	local set="" repo="" ref="" line sum d p
	while IFS= read -r line; do
		case $line in
		'' | '#'*) continue ;;
		'@ '*)
			read -r _ repo ref set <<<"$line"
			continue
			;;
		esac
		IFS=$'\t' read -r sum d p <<<"$line"
		if [ -z "$set" ] || [ -z "$sum" ] || [ -z "$d" ]; then
			printf '%s: bad manifest line: %s\n' "$prog" "$line" >&2
			return 1
		fi
		printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$set" "$d" "$repo" "$ref" "${p:--}" "$sum"
	done < <(if [ -n "${CORPUS_MANIFEST:-}" ]; then cat -- "$CORPUS_MANIFEST"; else manifest; fi)
}

# check_row refuses destinations that would leave DEST and unusable hashes.
check_row() {
	local d=$1 sum=$2
	case /$d/ in
	*/../* | */./* | //*) return 1 ;;
	esac
	[[ $sum =~ ^[0-9a-f]{64}$ ]]
}

failures=0
fail() {
	printf '%s: %s\n' "$prog" "$*" >&2
	failures=$((failures + 1))
}

work=""
part=""
# cleanup runs from the EXIT trap.
# shellcheck disable=SC2317
cleanup() {
	if [ -n "$part" ]; then
		rm -f -- "$part"
	fi
	if [ -n "$work" ]; then
		rm -rf -- "$work"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# retry CMD...: run CMD up to 3 times, 2 and 5 seconds apart (a network
# blip should not end a 300-file fetch).
retry() {
	local n=1
	until "$@"; do
		[ $n -lt 3 ] || return 1
		printf '%s: retrying in %ds: %s\n' "$prog" $((n * 3 - 1)) "$*" >&2
		sleep $((n * 3 - 1))
		n=$((n + 1))
	done
}

# repo_dir REPO REF: a local git directory holding the pinned commit of REPO,
# fetched once per run; prints its path and the full commit id.
declare -A repo_dirs=()
repo_dir() {
	local repo=$1 ref=$2 key="$1@$2" d url commit
	if [ -n "${repo_dirs[$key]:-}" ]; then
		printf '%s\n' "${repo_dirs[$key]}"
		return
	fi
	d=$work/git/$(printf '%s' "$key" | tr -c 'A-Za-z0-9._-' '_')
	url=$git_base/$repo
	printf 'fetching %s at %s from %s\n' "$repo" "$ref" "$url" >&2
	if [[ $ref =~ ^[0-9a-f]{40}$ ]]; then
		# A full id: fetch that one commit and its trees; blobs come on
		# demand (partial clone), so only the listed files are downloaded.
		git init -q -- "$d" &&
			git -C "$d" remote add origin "$url" &&
			retry git -C "$d" fetch -q --no-tags --depth=1 --filter=blob:none origin "$ref" ||
			return 1
		commit=$ref
	else
		# An abbreviated id can only be resolved against the history:
		# fetch the commits alone (no trees, no blobs) and resolve it.
		retry git clone -q --bare --no-tags --filter=tree:0 -- "$url" "$d" || return 1
		commit=$(git -C "$d" rev-parse --verify -q "$ref^{commit}") || {
			printf '%s: %s: no commit %s\n' "$prog" "$repo" "$ref" >&2
			return 1
		}
	fi
	repo_dirs[$key]="$d $commit"
	printf '%s %s\n' "$d" "$commit"
}

# by_name REPODIR COMMIT: prints "flattened-name<TAB>path" for every file
# of the commit.
by_name() {
	git -C "$1" ls-tree -r -z --name-only "$2" |
		while IFS= read -r -d '' p; do
			printf '%s\t%s\n' "$(printf '%s' "$p" | tr '/ ' '__')" "$p"
		done
}

# install SRC DEST-RELATIVE SUM WHAT: verify SRC and move or copy it into
# DEST; WHAT says where it came from, for messages.
install_file() {
	local src=$1 d=$2 sum=$3 what=$4 got
	got=$(sha256 "$src") || {
		fail "$d: cannot read $what"
		return
	}
	if [ "$got" != "$sum" ]; then
		fail "$d: sha256 $got from $what, want $sum (not installed)"
		return
	fi
	mkdir -p -- "$dest/$(dirname -- "$d")" || {
		fail "$d: cannot create its directory in $dest"
		return
	}
	# Written beside its place and renamed: an interrupted run leaves no
	# half file under the real name.
	part=$dest/$(dirname -- "$d")/.corpus-$$.part
	if cp -- "$src" "$part" && [ "$(sha256 "$part")" = "$sum" ] && chmod 0644 -- "$part" && mv -f -- "$part" "$dest/$d"; then
		part=""
		printf 'ok       %s (%s)\n' "$d" "$what"
		installed=$((installed + 1))
	else
		rm -f -- "$part"
		part=""
		fail "$d: could not write it into $dest"
	fi
}

main() {
	mode=fetch
	from=""
	git_base=https://github.com
	force=false
	only=()
	dest=""
	while [ $# -gt 0 ]; do
		case $1 in
		-h | --help)
			usage
			exit 0
			;;
		--list) mode=list ;;
		--check) mode=check ;;
		--force) force=true ;;
		--from | --git-base | --only)
			if [ $# -lt 2 ] || [ -z "$2" ]; then
				usage_error "$1 needs a value"
			fi
			case $1 in
			--from) from=$2 ;;
			--git-base) git_base=${2%/} ;;
			--only)
				case $2 in
				attack-samples | ecs | thirdparty) only+=("$2") ;;
				*) usage_error "--only $2: not a set (attack-samples, ecs, thirdparty)" ;;
				esac
				;;
			esac
			shift
			;;
		--from=* | --git-base=* | --only=*)
			opt=${1%%=*}
			val=${1#*=}
			shift
			set -- "$opt" "$val" "$@"
			continue
			;;
		--)
			shift
			[ $# -le 1 ] || usage_error "one DEST only"
			[ $# -eq 0 ] || dest=$1
			break
			;;
		-*) usage_error "unknown option $1" ;;
		*)
			[ -z "$dest" ] || usage_error "one DEST only (got '$dest' and '$1')"
			dest=$1
			;;
		esac
		shift
	done
	if [ -z "$dest" ]; then
		dest=${TSCLIENTWATCH_SHARED_DATA:-$(dirname -- "$root")/shared/data}
	fi
	if [ -n "$from" ]; then
		[ "$mode" = fetch ] || usage_error "--from goes with fetching, not --$mode"
		[ -d "$from" ] || usage_error "--from $from: not a directory"
		from=$(cd "$from" && pwd)
	fi


	total=0
	present=0
	installed=0
	todo=()
	while IFS=$'\t' read -r set d repo ref path sum; do
		selected "$set" || continue
		if ! check_row "$d" "$sum"; then
			fail "manifest row for $d: bad destination or hash"
			continue
		fi
		total=$((total + 1))
		case $mode in
		list)
			if [ "$repo" = . ]; then
				printf '%s\t%s\t%s\t%s\n' "$set" "$d" "$path" "$sum"
			elif [ "$path" = - ]; then
				printf '%s\t%s\t%s@%s (by name)\t%s\n' "$set" "$d" "$repo" "$ref" "$sum"
			else
				printf '%s\t%s\t%s@%s:%s\t%s\n' "$set" "$d" "$repo" "$ref" "$path" "$sum"
			fi
			continue
			;;
		esac
		if [ -f "$dest/$d" ]; then
			got=$(sha256 "$dest/$d")
			if [ "$got" = "$sum" ]; then
				present=$((present + 1))
				continue
			fi
			if [ "$mode" = check ] || ! $force; then
				if [ "$mode" = check ]; then
					fail "$d: in $dest with sha256 $got, want $sum"
				else
					fail "$d: in $dest with sha256 $got, want $sum (--force replaces it)"
				fi
				continue
			fi
		elif [ "$mode" = check ]; then
			fail "$d: missing from $dest"
			continue
		fi
		todo+=("$set"$'\t'"$d"$'\t'"$repo"$'\t'"$ref"$'\t'"$path"$'\t'"$sum")
	done < <(rows)

	case $mode in
	list)
		exit $((failures > 0))
		;;
	check)
		printf '%d of %d files in %s verified\n' "$present" "$total" "$dest"
		exit $((failures > 0))
		;;
	esac

	if [ ${#todo[@]} -gt 0 ]; then
		if [ ! -d "$dest" ]; then
			mkdir -p -- "$dest" || {
				printf '%s: cannot create %s\n' "$prog" "$dest" >&2
				exit 1
			}
		fi
		[ -w "$dest" ] || {
			printf '%s: %s is not writable\n' "$prog" "$dest" >&2
			exit 1
		}
		work=$(mktemp -d "${TMPDIR:-/tmp}/tsclientwatch-corpus.XXXXXX")
	fi

	# Copies from the repository or from --from first; then fetches grouped by
	# repository and commit, so each is fetched once.
	declare -A names=()
	for row in "${todo[@]}"; do
		IFS=$'\t' read -r set d repo ref path sum <<<"$row"
		if [ "$repo" = . ]; then
			install_file "$root/$path" "$d" "$sum" "$path"
		elif [ -n "$from" ]; then
			if [ -f "$from/$d" ]; then
				install_file "$from/$d" "$d" "$sum" "$from/$d"
			else
				fail "$d: not in $from"
			fi
		else
			command -v git >/dev/null || {
				printf '%s: git is needed to fetch (apt-get install git), or use --from DIR\n' "$prog" >&2
				exit 1
			}
			if [ "${repo_dirs[$repo@$ref]:-}" = failed ]; then
				fail "$d: not fetched ($repo at $ref could not be fetched, above)"
				continue
			fi
			if ! info=$(repo_dir "$repo" "$ref"); then
				repo_dirs["$repo@$ref"]=failed
				fail "$d: could not fetch $repo at $ref from $git_base"
				continue
			fi
			read -r rd commit <<<"$info"
			# repo_dir ran in a subshell: remember its directory here.
			repo_dirs["$repo@$ref"]=$info
			if [ "$path" = - ]; then
				key="$repo@$ref"
				if [ -z "${names[$key]:-}" ]; then
					names[$key]=$work/names-${#names[@]}
					by_name "$rd" "$commit" >"${names[$key]}" || {
						fail "$d: cannot list $repo at $commit"
						continue
					}
					# Many files of one commit: check the commit out, which
					# fetches its blobs in one batch instead of one by one.
					if [ "$(git -C "$rd" rev-parse --is-bare-repository)" = false ]; then
						retry git -C "$rd" -c advice.detachedHead=false checkout -q --detach "$commit" ||
							printf '%s: batch fetch of %s failed; fetching file by file\n' "$prog" "$repo" >&2
					fi
				fi
				base=$(basename -- "$d")
				path=$(awk -F '\t' -v n="$base" '$1 == n { print $2; exit }' "${names[$key]}")
				if [ -z "$path" ]; then
					fail "$d: no file of $repo at $commit has that flattened name"
					continue
				fi
			fi
			out=$work/blob
			if git -C "$rd" cat-file blob "$commit:$path" >"$out" 2>"$work/err"; then
				install_file "$out" "$d" "$sum" "$repo@${commit:0:12}:$path"
			else
				fail "$d: cannot get $path of $repo at $commit: $(tr '\n' ' ' <"$work/err")"
			fi
		fi
	done

	printf '%d files in %s: %d verified already there, %d installed, %d failed\n' \
		"$total" "$dest" "$present" "$installed" "$failures"
	exit $((failures > 0))
}

# manifest: one "@ REPO REF SET" line, then "SHA256<TAB>DEST[<TAB>PATH]" for
# each file taken from that repository at that commit. The hashes are those
# of the copies in ../shared/data (its MANIFEST.md names the sources).
manifest() {
	cat <<'MANIFEST'
# Elastic License 2.0: kept out of the repository. The pins were chosen
# offline (no network here): where marked unverified, the first real fetch
# tells; a wrong pin fails the hash check and installs nothing.
#
# elastic/endpoint-package, the process data stream's sample document, at the
# snapshot named in the project's research notes (abbreviated: its full id
# is not known offline). Unverified.
@ elastic/endpoint-package 1994122 ecs
d7d573e10d6c3ba48b5073056622626db28871f0877fe3b730b0c89fb0a3658f	ecs/elastic_defend_process_sample_event.json	package/endpoint/data_stream/process/sample_event.json
# elastic/beats, winlogbeat's Sysmon golden file, at a commit whose text of
# it was compared with this copy.
@ elastic/beats 0e20651f7b2fe0d7ba1e9bb28eaad0e9e21c7ade ecs
bfc7df606fe23f86b51203e06e5bc14108901c0309a1928f4fca6a854a5cc190	ecs/winlogbeat_sysmon-12-processcreate.evtx.golden.json	x-pack/winlogbeat/module/sysmon/test/testdata/sysmon-12-processcreate.evtx.golden.json
# elastic/beats, winlogbeat's Security 4688 ingest golden file (ECS 8.17.0),
# at a commit whose other ingest golden files are at ECS 8.17.0. Unverified.
@ elastic/beats 2e3a07e00809087e482f2f05e6a561db054d946c ecs
bbc8c2d96c2f3b5f2d429c7add31fce24876d88022918b0ae5d7e828dfd3ed14	ecs/winlogbeat_security-windows2019_4688_Process_Created.golden.json	x-pack/winlogbeat/module/security/test/testdata/ingest/security-windows2019_4688_Process_Created.golden.json

# GPL-3.0: kept out of the repository. The research notes' snapshot. Found
# by name: the path at the commit with "/" and " " turned into "_"
# ("Lateral Movement/x.evtx" is Lateral_Movement_x.evtx). A subset of the
# repository: none of these holds a tsclient execution.
@ sbousseaden/EVTX-ATTACK-SAMPLES 4ceed2f4706daf601c212a8f91c113dd85349a2c attack-samples
ce94f2bd83c0adf2381afee0f3714b41aef4ae0997350b3aa039d7947865164c	evtx-corpus/attack-samples/AutomatedTestingTools_Malware_DE_timestomp_and_dll_sideloading_and_RunPersist.evtx
4ee3de8ac48d973a800666c3e1d757d11eaf9a960e7144db566bb51d903b4b09	evtx-corpus/attack-samples/AutomatedTestingTools_Malware_rundll32_cmd_schtask.evtx
dd771b5c6f30a25886af418e0bb69ded8383c13a08f74e5602cc5878ed623b11	evtx-corpus/attack-samples/AutomatedTestingTools_Malware_rundll32_hollowing_wermgr_masquerading.evtx
7a58c4055659045dbdba8e8bc83252711455f0c4d54e2b963147ef9349822699	evtx-corpus/attack-samples/AutomatedTestingTools_Malware_sideloading_injection_persistence_run_key.evtx
ead8a4c6c822da22ac98c6f16123090f0eb30955666c63f9acaa0d51561925da	evtx-corpus/attack-samples/AutomatedTestingTools_Malware_sideloading_uacbypass_rundll32_injection_c2.evtx
6903dff9f218fa027c704c8c445b74e08b952c8d71be79bd0327f1e792d4aa01	evtx-corpus/attack-samples/AutomatedTestingTools_PanacheSysmon_vs_AtomicRedTeam01.evtx
d7bebbe4a9bd6fdcfe53e019e7386a983f89c2fc7919fc51ecf249453ed60780	evtx-corpus/attack-samples/AutomatedTestingTools_WinDefender_Events_1117_1116_AtomicRedTeam.evtx
9c1371a0632de15095b6ffe2e38991b764d4beaddb1722178e93aa476f83f52f	evtx-corpus/attack-samples/AutomatedTestingTools_panache_sysmon_vs_EDRTestingScript.evtx
25853cab2d474dd52159d45e8c7b139c27b55767be558447ccbc6f494daec786	evtx-corpus/attack-samples/Command_and_Control_DE_RDP_Tunnel_5156.evtx
2668d3d7f0505ad453affcb9e2b7206617cf1ec1e5a212bd8f191eb8523c0ab1	evtx-corpus/attack-samples/Command_and_Control_DE_RDP_Tunneling_4624.evtx
b9d6d1a3af56501120d1d6b4dbe3d1fc600d88844f255208b4eff0f1e250b00f	evtx-corpus/attack-samples/Command_and_Control_DE_RDP_Tunneling_TerminalServices-RemoteConnectionManagerOperational_1149.evtx
1d1eb55d1b7c785db26e19b0d50b9eb4a7928671e4edeb82ea5182cb834c874a	evtx-corpus/attack-samples/Command_and_Control_DE_sysmon-3-rdp-tun.evtx
9dc80ef8dd521d443016559ee5b0e55837a59bfcc9d790b20b72c38a9eddc40e	evtx-corpus/attack-samples/Command_and_Control_bits_openvpn.evtx
d7e75b35f9db32c91dc0d066ee935b382253fb56659f19c05833c964f8217469	evtx-corpus/attack-samples/Command_and_Control_tunna_iis_rdp_smb_tunneling_sysmon_3.evtx
6858de83024b72dff54d75b882103f760eaa85847831578abab78ab5c7f62061	evtx-corpus/attack-samples/Credential_Access_4794_DSRM_password_change_t1098.evtx
f09f993909deb7acdae4c4f6f48e5a8447487e89437873fd8e653436a3dce36c	evtx-corpus/attack-samples/Credential_Access_ACL_ForcePwd_SPNAdd_User_Computer_Accounts.evtx
75f199b68d473172705bf874720b01820317fdd7aa4843545c98720dd6de197f	evtx-corpus/attack-samples/Credential_Access_CA_4624_4625_LogonType2_LogonProc_chrome.evtx
679b2ff27af6c932c07bf3e81391e455fae98e69bf3aff0f524e31aadc418131	evtx-corpus/attack-samples/Credential_Access_CA_DCSync_4662.evtx
a5c52377c8a430fc4838fdc9b7c1638125b95c618d7efa930be0562124e0bfba	evtx-corpus/attack-samples/Credential_Access_CA_Mimikatz_Memssp_Default_Logs_Sysmon_11.evtx
e23b74c463d1fba5c1ef44bcc5f386c56a17327a5b216118f6704cc30545cd8c	evtx-corpus/attack-samples/Credential_Access_CA_chrome_firefox_opera_4663.evtx
05fc4e1cf2a55b2b0c1623e4404e42f281dc68e0f024503527d19f3c065d39ac	evtx-corpus/attack-samples/Credential_Access_CA_hashdump_4663_4656_lsass_access.evtx
101037366f9c300f3ec9397ab42b2b9ee35115c3da97b5725c52db04d6bc33b2	evtx-corpus/attack-samples/Credential_Access_CA_keefarce_keepass_credump.evtx
da1c3fc77c5efdfd652201e2037f5c257ec4e48432900473491b9ca1c32bcf15	evtx-corpus/attack-samples/Credential_Access_CA_keepass_KeeThief_Get-KeePassDatabaseKey.evtx
65931b695ed13ad1d0779342257b8e22b2cc30676d65a2610dc6a540701f7841	evtx-corpus/attack-samples/Credential_Access_CA_protectedstorage_5145_rpc_masterkey.evtx
897206ca4c3c427753fde880970048494cd5a99be9aaba6154b4e3ac499e24c9	evtx-corpus/attack-samples/Credential_Access_CA_sysmon_hashdump_cmd_meterpreter.evtx
53eaf99a0a50ad2b2b8b86535b6b5f5da30663d5f977a02eeb4e69d2438fa668	evtx-corpus/attack-samples/Credential_Access_CA_teamviewer-dumper_sysmon_10.evtx
9a9467f92de5a4b49302800b8c1d4ca0a5f6b562e23aaaa36d87bae690888014	evtx-corpus/attack-samples/Credential_Access_LsassSilentProcessExit_process_exit_monitor_3001_lsass.evtx
014e936e1b5bad13275d3c6f2e61cc6dc74c4514557b20264b27df06a08d6ee6	evtx-corpus/attack-samples/Credential_Access_MSSQL_multiple_failed_logon_EventID_18456.evtx
54ff62eff26af588782e066b7b3b1b952bc83e1b75a84d81f9492e654cb5c319	evtx-corpus/attack-samples/Credential_Access_Powershell_4104_MiniDumpWriteDump_Lsass.evtx
f2e5df7f6929dcb0ab9c45f0c5f30488dfb167a56ee472fa2ae6bf52f610fa94	evtx-corpus/attack-samples/Credential_Access_Sysmon13_MachineAccount_Password_Hash_Changed_via_LsarSetSecret.evtx
821e5225b243dfcb44789b1904b7d9ae5ab7a458eeeb68b24af27ace1f477367	evtx-corpus/attack-samples/Credential_Access_Sysmon_13_Local_Admin_Password_Changed.evtx
519cdae51e2a3a3045ff3a3c61fc06576869deed23a81b9e45619f9521f6bc63	evtx-corpus/attack-samples/Credential_Access_Zerologon_CVE-2020-1472_DFIR_System_NetLogon_Error_EventID_5805.evtx
7ea57911a3afea3777e503e69d30d91b635201df3e6f7f5bbffb1495791064e6	evtx-corpus/attack-samples/Credential_Access_Zerologon_VoidSec_CVE-2020-1472_4626_LT3_Anonym_follwedby_4742_DC_Anony_DC.evtx
3747c33a60a32142bf4e30bf023f155b2c0d6e7a018bce8b7bafbd5aa7ec109c	evtx-corpus/attack-samples/Credential_Access_babyshark_mimikatz_powershell.evtx
56b83f3f107ad9e02ecbcdc849930608f86cac1269d156c90e38326bc401a6ec	evtx-corpus/attack-samples/Credential_Access_dc_applog_ntdsutil_dfir_325_326_327.evtx
5388d3281a902a1f3cc087697589145b7de6abdbbc0dc716abd6a702c44bb106	evtx-corpus/attack-samples/Credential_Access_discovery_sysmon_1_iis_pwd_and_config_discovery_appcmd.evtx
001b973cb13a18a2febd5de3689eac65774ca8025eb1428db38508ff199af99a	evtx-corpus/attack-samples/Credential_Access_etw_rpc_zerologon.evtx
4a0a1c7132e216dbc704c806e9429df9ae3ac00485d5238e50c776e3099ae11d	evtx-corpus/attack-samples/Credential_Access_kerberos_pwd_spray_4771.evtx
177db8fa70262b4e2eba4e2902c97e82e3c6943fd111bde2ee522d5f1d57e856	evtx-corpus/attack-samples/Credential_Access_phish_windows_credentials_powershell_scriptblockLog_4104.evtx
9ac47a1ab7ac5e899dede49a4ea3512f0d3628edb9605981fe78bc0aec6f296f	evtx-corpus/attack-samples/Credential_Access_ppl_bypass_ppldump_knowdll_hijack_sysmon_security.evtx
6a5d703c2838d568bdf0db3578dc3ddbb5de44c24839c5defd2c0545b49043e0	evtx-corpus/attack-samples/Credential_Access_remote_pwd_reset_rpc_mimikatz_postzerologon_target_DC.evtx
5eb397ece85fa13263685cb1d61ec6fdb768f2dc83d17e222f9d318f3703044f	evtx-corpus/attack-samples/Credential_Access_remote_sam_registry_access_via_backup_operator_priv.evtx
5784342008a619ae910f88fe435bc30fc372399f14405c6265dbce8c9b578838	evtx-corpus/attack-samples/Credential_Access_sysmon17_18_kekeo_tsssp_default_np.evtx
915f0859251552b6c33efc32f6184d2c25419c5859852124a7f14ed6ec1a3723	evtx-corpus/attack-samples/Credential_Access_sysmon_10_11_lsass_memdump.evtx
f0d11bf8e186947aaf64c3a57debb1b665f518e2dab13acdaafb30c7e8d262af	evtx-corpus/attack-samples/Credential_Access_sysmon_10_11_outlfank_dumpert_and_andrewspecial_memdump.evtx
d1bf591cabf7d21f49936150bfaf433da7665211ba3fd00bc806f4912a6f96b4	evtx-corpus/attack-samples/Credential_Access_sysmon_10_1_memdump_comsvcs_minidump.evtx
9a1689574ed08c1fb18e7ff3f3bed612109aedcb7bf8efbf3537d756e669e96f	evtx-corpus/attack-samples/Credential_Access_sysmon_10_lsass_mimikatz_sekurlsa_logonpasswords.evtx
a3ca60a7b49d5a6900460431d4aad4f75e915b9baf8fc211878c2b7bcdac4b6b	evtx-corpus/attack-samples/Credential_Access_sysmon_13_keylogger_directx.evtx
7d160c1b636f8eb3642e9c2c15c941c136d9ecbf19116b18b19f981324d44e00	evtx-corpus/attack-samples/Credential_Access_sysmon_2x10_lsass_with_different_pid_RtlCreateProcessReflection.evtx
59c28ff11e4b9b329ee6b0859a5514f772913e95ef9ba8f94c46e02c4d78be17	evtx-corpus/attack-samples/Credential_Access_sysmon_3_10_Invoke-Mimikatz_hosted_Github.evtx
17f010bff45a34212e5c5ff13ed1106274f65e3524fc508f7481db8aaeef0434	evtx-corpus/attack-samples/Credential_Access_sysmon_rdrleakdiag_lsass_dump.evtx
5579cdca073ee4864ea82d656aa2d25400b5c1e85b8e688db5d85f6dc558c2af	evtx-corpus/attack-samples/Defense_Evasion_DE_104_system_log_cleared.evtx
a0615707b547a2ac254688fd725c3c590f62440fc9b7947c2843dd40498a39e8	evtx-corpus/attack-samples/Defense_Evasion_DE_1102_security_log_cleared.evtx
329b2a8c70d43789e03bad581e971c4f84aeb2852c5a7c960fa57454225e5199	evtx-corpus/attack-samples/Defense_Evasion_DE_BYOV_Zam64_CA_Memdump_sysmon_7_10.evtx
97637b9c858afe52cd644108b30f0aaaeea8837db900b06e40c00c9bc45a3963	evtx-corpus/attack-samples/Defense_Evasion_DE_EventLog_Service_Crashed.evtx
8b0c2b1998bbd6292fbd23c2fbd954ed2a0db5ae38f39493e718262b215b4da9	evtx-corpus/attack-samples/Defense_Evasion_DE_Fake_ComputerAccount_4720.evtx
3fbd57015ffdacdb063535f1269782f9c7ac27da74b9c009ae50b636e3d3f836	evtx-corpus/attack-samples/Defense_Evasion_DE_KernelDebug_and_TestSigning_ON_Security_4826.evtx
3eb77febe76db38146275927c57fa7fcb98394c2261858d957dabc90573ac7c0	evtx-corpus/attack-samples/Defense_Evasion_DE_Powershell_CLM_Disabled_Sysmon_12.evtx
cafd901d6b6583a2441386ef6b42c380090270e91eb3431ec01a77ccb0e1c37f	evtx-corpus/attack-samples/Defense_Evasion_DE_ProcessHerpaderping_Sysmon_11_10_1_7.evtx
06d462b8367cfc620bc84dbda970cf34bff761e02d9d6e1d33bc48f56bc66e6d	evtx-corpus/attack-samples/Defense_Evasion_DE_UAC_Disabled_Sysmon_12_13.evtx
026f7df81fd1ac2b8c98678d340b05ffc330f8e944026ec75af48df00b1ce871	evtx-corpus/attack-samples/Defense_Evasion_DE_WinEventLogSvc_Crash_System_7036.evtx
aadfd6f526c9ce0b76381f8c7a047b0882fcd2a4640a733f9b4b90d68a34446b	evtx-corpus/attack-samples/Defense_Evasion_DE_remote_eventlog_svc_crash_byt3bl33d3r_sysmon_17_1_3.evtx
3b58311891bc80b239da102dec9c462d9c8d07c1f0ba5fedaf2c59e1e4447179	evtx-corpus/attack-samples/Defense_Evasion_DE_renamed_psexec_service_sysmon_17_18.evtx
bd9b7712b67b16515f70fd5168142aca1f4cb88cdc1f51c08cf838e317cfdf59	evtx-corpus/attack-samples/Defense_Evasion_DE_suspicious_remote_eventlog_svc_access_5145.evtx
2ef4fa374e6ccc23efeb32d12ce38362673cc0afa2e986fcfd88f882480ec582	evtx-corpus/attack-samples/Defense_Evasion_DE_xp_cmdshell_enabled_MSSQL_EID_15457.evtx
1162521cb06986ddef24bff7c044b05d63f37ea8faeaa6acd8cc2529b05c7618	evtx-corpus/attack-samples/Defense_Evasion_DSE_bypass_BYOV_TDL_dummydriver_sysmon_6_7_13.evtx
90c5a7871a9f90bcf6fdea15fc6623aac5fe29c63282bdf00b8c1b687dac4e2c	evtx-corpus/attack-samples/Defense_Evasion_Sysmon_10_Evasion_Suspicious_NtOpenProcess_CallTrace.evtx
1eb4fc9d4fc6c4c36db7c4ec2ae5a6833e6cfb8d26e4c1f8d0653d5a78c533f3	evtx-corpus/attack-samples/Defense_Evasion_Sysmon_12_DE_AntiForensics_MRU_DeleteKey.evtx
7a0c541506770e6ef05e327f600c7fc1d328676058214a0e3a6a82c7d7e8fcdf	evtx-corpus/attack-samples/Defense_Evasion_Sysmon_7__Update_Session_Orchestrator_Dll_Hijack.evtx
95b499a8478cce0fa8eb579c236a5216c1ba8dff8d4b98f751b2d52edba67400	evtx-corpus/attack-samples/Defense_Evasion_Sysmon_7_dllhijack_cdpsshims_CDPSvc.evtx
ec2fe6bac8ecbc6e2bf5b253792f2cace2d4530af0152ba9f58dd446db193ae8	evtx-corpus/attack-samples/Defense_Evasion_Win_4985_T1186_Process_Doppelganging.evtx
a623b11315eacd9732da5ebeabdb7c72d0f641fdf0ec5d2ec43e360abd13837e	evtx-corpus/attack-samples/Defense_Evasion_apt10_jjs_sideloading_prochollowing_persist_as_service_sysmon_1_7_8_13.evtx
aff2a84996514a6a3e6369de06c2d8edd8dcf4afc3e8e5c2c6fbc38431ef9084	evtx-corpus/attack-samples/Defense_Evasion_de_PsScriptBlockLogging_disabled_sysmon12_13.evtx
8bb94aeb8ee163f9d7363382656057feed83c2a22abe25f04a36c61b78b80e8f	evtx-corpus/attack-samples/Defense_Evasion_de_hiding_files_via_attrib_cmdlet.evtx
9ca0c561593fbd30956437d566e51e5e913829ba2aec30c0d867d739d4b3f3f8	evtx-corpus/attack-samples/Defense_Evasion_de_portforward_netsh_rdp_sysmon_13_1.evtx
da5765253da63f39373dd9f8df0ec9f7573acb6059c6b44f7d7b3ca83393f645	evtx-corpus/attack-samples/Defense_Evasion_de_powershell_execpolicy_changed_sysmon_13.evtx
9045bbb928d944da7156b488cdc036d40961736a592bb1e6c496786fd02415c6	evtx-corpus/attack-samples/Defense_Evasion_de_sysmon_13_VBA_Security_AccessVBOM.evtx
13099e0dd75dd4222c289864902cb12d0c63777f689709a36531fae3e2e43c05	evtx-corpus/attack-samples/Defense_Evasion_de_unmanagedpowershell_psinject_sysmon_7_8_10.evtx
8034cbbcf25f2d33c9f92d518e29e4501ca2611c5396e15b4b2a60654315fd4b	evtx-corpus/attack-samples/Defense_Evasion_evasion_codeinj_odzhan_conhost_sysmon_10_1.evtx
768feeb10b97df3903002d023efa4f83f5392a5dd80e10d609f0063d5353f291	evtx-corpus/attack-samples/Defense_Evasion_evasion_codeinj_odzhan_spoolsv_sysmon_10_1.evtx
844b8d7aa509fa95cd0734dcd09e16a76d9e3fed49b234ea954b7d94b5571a8c	evtx-corpus/attack-samples/Defense_Evasion_faxhell_sysmon_7_1_18_3_bindshell_dllhijack.evtx
9e6fe88d33af7ebee4841098a639a04215b3d04cc8e0f1d4f6fa94212fe5d2fc	evtx-corpus/attack-samples/Defense_Evasion_meterpreter_migrate_to_explorer_sysmon_8.evtx
21ed5dc7b3e18d1280d6ff8f50d198d88294423c41aec0d790ba767adc798238	evtx-corpus/attack-samples/Defense_Evasion_process_suspend_sysmon_10_ga_800.evtx
d6a2d4e6f886c7a5cf9c6734527e38c6f7bfe051283cc6d39084be1c713a743d	evtx-corpus/attack-samples/Defense_Evasion_sideloading_wwlib_sysmon_7_1_11.evtx
74dda489578fc89d0d8b684126f1d913750da5b9aa30869afa5c054f06a4754e	evtx-corpus/attack-samples/Defense_Evasion_sysmon_10_1_ppid_spoofing.evtx
1a877ee743da4f3183e19f30f9d864f9c86bd119fb4c47fa849af5be04985944	evtx-corpus/attack-samples/Defense_Evasion_sysmon_13_rdp_settings_tampering.evtx
1fd461647854d19cf9c813a419ffc728522507777e76d7a32150e58e746d43d6	evtx-corpus/attack-samples/Defense_Evasion_sysmon_2_11_evasion_timestomp_MACE.evtx
c998491414379a4cd7b2f2d6025b7e4c1d1e13e8c31c623368d32b7acebcf93f	evtx-corpus/attack-samples/Discovery_4799_remote_local_groups_enumeration.evtx
40d36563e61b022c7115b5723a796cb138b60eb61d85d9bcf8fc8dfdf0cf02f9	evtx-corpus/attack-samples/Discovery_Discovery_Remote_System_NamedPipes_Sysmon_18.evtx
3e1451e5d8845360044e11807219073a289c9183142a7032bbee2796d2577a37	evtx-corpus/attack-samples/Discovery_dicovery_4661_net_group_domain_admins_target.evtx
1f1903ca9c4a89b9e463c0c0de671da0862b0aa06af9145cfabd0255468b5eba	evtx-corpus/attack-samples/Discovery_discovery_UEFI_Settings_rweverything_sysmon_6.evtx
34f153b6384a6842fe4c635ec224f7551aef2c69b89267715413fd7d00690eb0	evtx-corpus/attack-samples/Discovery_discovery_bloodhound.evtx
c939a9aa65b2b262154571b6290234f559e2b22546ebfe5a57fb792f452f4198	evtx-corpus/attack-samples/Discovery_discovery_enum_shares_target_sysmon_3_18.evtx
dc2d739363f7ee4c27c429bcff0676e70d605b1f99198fd59433969dc455d65f	evtx-corpus/attack-samples/Discovery_discovery_local_user_or_group_windows_security_4799_4798.evtx
4a2f88aee90d58fa58fd32a3c1bb31e76cdd1caa4a36f2cfb63b6aa045f60378	evtx-corpus/attack-samples/Discovery_discovery_meterpreter_ps_cmd_process_listing_sysmon_10.evtx
aa2f3ad059952502d159ead3225a6dac6f2903d76f2ce8f503933deb46af7f07	evtx-corpus/attack-samples/Discovery_discovery_psloggedon.evtx
616a8eed6a0e0901679607659b9c71df38e4e99081ac8f8219113ae4330edf47	evtx-corpus/attack-samples/Discovery_discovery_sysmon_18_Invoke_UserHunter_NetSessionEnum_DC-srvsvc.evtx
a743d37d41d7b88e85ff11baaa2050739fd68703a53ac94cc06df4a28a59ede4	evtx-corpus/attack-samples/Discovery_discovery_sysmon_3_Invoke_UserHunter_SourceMachine.evtx
328ec1b4b6c531af991a2de2221900ec93db1853f7446f61c7e3c9bf9bf052e3	evtx-corpus/attack-samples/Execution_Exec_sysmon_meterpreter_reversetcp_msipackage.evtx
435da66e3edbb223208cdd31f2aff37ffb3037b091d728fa427d5067022fcc92	evtx-corpus/attack-samples/Execution_Exec_via_cpl_Application_Experience_EventID_17_ControlPanelApplet.evtx
c139f6920de2f2712137589196ab733d2566cd211e4f8dca62fd7f35a88fb21e	evtx-corpus/attack-samples/Execution_Sysmon_Exec_CompiledHTML.evtx
872e959cb691d3e3d3a48068c02c7fb579c2d818a007fbd2831f6616bb8c7082	evtx-corpus/attack-samples/Execution_Sysmon_meterpreter_ReflectivePEInjection_to_notepad_.evtx
6e2101b499829c9c7b273309821d63addd0a5020fd1069b29d9bd146586814e2	evtx-corpus/attack-samples/Execution_evasion_execution_imageload_wuauclt_lolbas.evtx
18c724eefbc80312cf0628e0cd1390c138c216c8b057c8a5e287f2bef2640727	evtx-corpus/attack-samples/Execution_exec_driveby_cve-2018-15982_sysmon_1_10.evtx
ddaec1c8c49cb3706e9daf184bbcb4c332ae4b148924908ef65acb621ca8e84a	evtx-corpus/attack-samples/Execution_exec_msxsl_xsl_sysmon_1_7.evtx
fb5679aec77dc45a35902f705b513811dfea0f2f93c9c8503464a20270c3222f	evtx-corpus/attack-samples/Execution_exec_persist_rundll32_mshta_scheduledtask_sysmon_1_3_11.evtx
11150ee64363501f5f5ca7ab359e696a6a7bb51a1c76f5fb182c38682a5e7a07	evtx-corpus/attack-samples/Execution_exec_sysmon_1_11_lolbin_rundll32_openurl_FileProtocolHandler.evtx
a958cf481c4a9fb6e434dfdd6cad6974e577bad6716926b6ff5b6c6a2acce74c	evtx-corpus/attack-samples/Execution_exec_sysmon_1_11_lolbin_rundll32_shdocvw_openurl.evtx
03a43d28ce470db4b3a9e40bda8147a7fa254cbf3237ff2219c3c09e8ddb8847	evtx-corpus/attack-samples/Execution_exec_sysmon_1_11_lolbin_rundll32_zipfldr_RouteTheCall.evtx
34588fcca4663a5abf9111b58860d8b0b2b8e0cf67acc61599874daa1edfcc4d	evtx-corpus/attack-samples/Execution_exec_sysmon_1_7_jscript9_defense_evasion.evtx
aadae0e31b5f2310284687062010251fdd9ed9b8e8d76be14b79896d05f970ef	evtx-corpus/attack-samples/Execution_exec_sysmon_1_ftp.evtx
3d99ad191360bb22739ce0cbb87dc4d3646f9084d2e6f042fb570f39b0f97418	evtx-corpus/attack-samples/Execution_exec_sysmon_1_lolbin_pcalua.evtx
4baa0bc603d1e8b50212e60931431c5c6f7bf35fcdedb80bf6ab1fc77907ec04	evtx-corpus/attack-samples/Execution_exec_sysmon_1_lolbin_renamed_regsvr32_scrobj.evtx
6d5b52398a67b36c160ec22db8e027efbc3e40943075d2d79c748931bc8d9982	evtx-corpus/attack-samples/Execution_exec_sysmon_1_lolbin_rundll32_advpack_RegisterOCX.evtx
d5f8d2c619562d8dcfc6c68ee51131436e060d036447aae1e88c89518a191f9a	evtx-corpus/attack-samples/Execution_exec_sysmon_1_rundll32_pcwutl_LaunchApplication.evtx
d6978888a7dead4523c01df417aa7ea6ad2599a5bbf1acd05d89882aac956442	evtx-corpus/attack-samples/Execution_exec_sysmon_lobin_regsvr32_sct.evtx
8b3448717a53b1c3e0dc4803b128da844f052bdd5c9d6afac99b69148e89ef94	evtx-corpus/attack-samples/Execution_exec_wmic_xsl_internet_sysmon_3_1_11.evtx
4faca379cd9e454539b922d56037003c9aaaf049185c9ddcad384f041cc74c3f	evtx-corpus/attack-samples/Execution_execution_evasion_visual_studio_prebuild_event.evtx
08ce1feab22e30eb12a5a5b1ba4ac0aa552ff988b762d08de3a4d75ee1636abd	evtx-corpus/attack-samples/Execution_revshell_cmd_svchost_sysmon_1.evtx
3e4fff1443d6b63f1f575574555c62492f307bbbfd967551e5fe4d4c2141286e	evtx-corpus/attack-samples/Execution_rogue_msi_url_1040_1042.evtx
e36ecc5634406fa5a8a898b3d0934a6c258891f27ccea97ba4972a81085b6af9	evtx-corpus/attack-samples/Execution_susp_explorer_exec.evtx
7ad60f106034ee3b3ea2614766dabb75bd03ef56431648fdfc56d0d83a87d86b	evtx-corpus/attack-samples/Execution_susp_explorer_exec_root_cmdline_@rimpq_@CyberRaiju.evtx
f63ea09964ad1b6cc1d1dab6d8203a96f4eae71dd4cddc5408719afdc6e861af	evtx-corpus/attack-samples/Execution_sysmon_11_1_lolbas_downldr_desktopimgdownldr.evtx
3a343508ea71725bf118a85971840257bbba793d25336993cea73274743c3550	evtx-corpus/attack-samples/Execution_sysmon_1_11_rundll32_cpl_ostap.evtx
9abd2bd89115f77f79a96d0ffcc0b1cdb238d2c6d3edcaf24abddc50ee405964	evtx-corpus/attack-samples/Execution_sysmon_exec_from_vss_persistence.evtx
5f83c2a19819cf21098ff7047b52d5ece20303bb95332e4020660da6de9c6050	evtx-corpus/attack-samples/Execution_sysmon_lolbas_rundll32_zipfldr_routethecall_shell.evtx
9cabd9accd1cad037ef7408bfddd9639f793665b73634833722b8cd842485fed	evtx-corpus/attack-samples/Execution_sysmon_lolbin_bohops_vshadow_exec.evtx
a2c396ac66aed02c0e36c6e467db3c3b83a57d003604ca79eb2a33175efcbad1	evtx-corpus/attack-samples/Execution_sysmon_mshta_sharpshooter_stageless_meterpreter.evtx
57748248a6fbe68c36332acf603b537acce263a3c1b17f6a1cc5f635aaee7558	evtx-corpus/attack-samples/Execution_sysmon_vbs_sharpshooter_stageless_meterpreter.evtx
4d995c2a339d3c272afd4ac8cf01f009ca5358bafe3fa51889b28f86296cd894	evtx-corpus/attack-samples/Execution_sysmon_zipexec.evtx
a7decf0fbabc340e37de7e7c39fddd5398a7106a4f6acded0ea1d2ffa6bf8b70	evtx-corpus/attack-samples/Execution_temp_scheduled_task_4698_4699.evtx
0269326ab0e308192181a470bd588550d524e7cffd13a60373b29b24c32b1ead	evtx-corpus/attack-samples/Execution_windows_bits_4_59_60_lolbas_desktopimgdownldr.evtx
b0d91162d7e3b211968ab9d797374a4576cc5cb233757e4f62776a60eb456e9d	evtx-corpus/attack-samples/Lateral_Movement_DFIR_RDP_Client_TimeZone_RdpCoreTs_104_example.evtx
b3cdcbad24144417123becbc62d73d7954e832657d92f3a6b63e7b61291afede	evtx-corpus/attack-samples/Lateral_Movement_ImpersonateUser-via_local_Pass_The_Hash_Sysmon_and_Security.evtx
bbfd87cacdd56a9135de1838666937cd6c74daba47b366bba0c11f95ce97f461	evtx-corpus/attack-samples/Lateral_Movement_LM_4624_mimikatz_sekurlsa_pth_source_machine.evtx
3806a2b6662d82e13969939251539e10532bda11f10a5ed6c3565b9c0679907e	evtx-corpus/attack-samples/Lateral_Movement_LM_5145_Remote_FileCopy.evtx
155cc5da10cb63a7fb69747c440796be17d1f4230ba24e7cb45423bdd9c368b6	evtx-corpus/attack-samples/Lateral_Movement_LM_DCOM_MSHTA_LethalHTA_Sysmon_3_1.evtx
aca97ff41ccc3fb314e97ae5c9e0aa6adcaf97f0cfd4ce92ee3178ae76a50264	evtx-corpus/attack-samples/Lateral_Movement_LM_ImageLoad_NFSH_Sysmon_7.evtx
95ce1cefe507a1de70aa5cd987cee942ecdad4dd692cbedb435c58b2cd9fda00	evtx-corpus/attack-samples/Lateral_Movement_LM_NewShare_Added_Sysmon_12_13.evtx
c890d2b67dc2902b2fa5a094e517674920911a15b273f43c674fbfaa69540658	evtx-corpus/attack-samples/Lateral_Movement_LM_PowershellRemoting_sysmon_1_wsmprovhost.evtx
9f6fd1e395454108e2176448f31cc8354378075f51474756a1ed2418e9bbdae2	evtx-corpus/attack-samples/Lateral_Movement_LM_REMCOM_5145_TargetHost.evtx
5c49c677d0fdce4402369c953e29065d93cc8a3f2071cb8ce997c25a60cd53cc	evtx-corpus/attack-samples/Lateral_Movement_LM_Remote_Service01_5145_svcctl.evtx
af758eb492b6d5ab6665f7e4c44b31490f57be78c37dc0a8b1da714bb0d3d458	evtx-corpus/attack-samples/Lateral_Movement_LM_Remote_Service02_7045.evtx
53999570b8edb7f909cb07165fecda1f29bf04e3462d13dc404e31f31a9ab932	evtx-corpus/attack-samples/Lateral_Movement_LM_ScheduledTask_ATSVC_target_host.evtx
421b796a74d3b0bdeab65d5ff520dd825822809a4ed2d38b87c9393dbde43d3b	evtx-corpus/attack-samples/Lateral_Movement_LM_WMIC_4648_rpcss.evtx
3ff3fcdb55c08ec0eaa39b25c1e02a205314f367bcedc662586bd063185ca41d	evtx-corpus/attack-samples/Lateral_Movement_LM_WMI_4624_4688_TargetHost.evtx
9ca45e8f1506d2bda35a9c10c3af95b1463672d9fffddbaca58d8dc03bb8636f	evtx-corpus/attack-samples/Lateral_Movement_LM_add_new_namedpipe_tp_nullsession_registry_turla_like_ttp.evtx
aed4ec89526d0a5fe3427184664379fd243598f894b2da8cd4b75c3e6c616e57	evtx-corpus/attack-samples/Lateral_Movement_LM_dcom_shwnd_shbrwnd_mmc20_failed_traces_system_10016.evtx
6c50f3c7106080fb4e2535285d55435c325b651af7558e5e61a4fe82d80dbdce	evtx-corpus/attack-samples/Lateral_Movement_LM_impacket_docmexec_mmc_sysmon_01.evtx
c351c446c1aaa3e9cd70ee891ad7f0b135573e339d9e383f0a361c687b477fe5	evtx-corpus/attack-samples/Lateral_Movement_LM_regsvc_DirectoryServiceExtPt_Lsass_NTDS_AdamXpn.evtx
38343c25834964a28a23cb9ad43e1d72c8ffbac0b21105877956e80e38465f4d	evtx-corpus/attack-samples/Lateral_Movement_LM_renamed_psexecsvc_5145.evtx
2c0aa9ea79dd513dee70daf1aeb5cb8d1ca5bad36c96929cb0a61db001d0f41a	evtx-corpus/attack-samples/Lateral_Movement_LM_sysmon_3_12_13_1_SharpRDP.evtx
be5cb186b8217f49f8e9531bd8ac6fc87ce4659ad5366bf73aa28ba36cdbec68	evtx-corpus/attack-samples/Lateral_Movement_LM_sysmon_3_DCOM_ShellBrowserWindow_ShellWindows.evtx
18ffdda9c24e593d6b1414b6e05c7f7a5dbffb8588a387c165431b61ab52d76f	evtx-corpus/attack-samples/Lateral_Movement_LM_sysmon_psexec_smb_meterpreter.evtx
3b047a264a341faa16e33af4cbf4097f6db3aec75e5c87082f7b9551a3cc0e5b	evtx-corpus/attack-samples/Lateral_Movement_LM_sysmon_remote_task_src_powershell.evtx
8ca6304cdbdde41b148cf9b25f1978e1eabb1e2253444ba3e8d01379b5ad3323	evtx-corpus/attack-samples/Lateral_Movement_LM_tsclient_startup_folder.evtx
6f1cb3c435389d961261ccfbb2c4562b156d4160319fe4736ce1506a43327c7b	evtx-corpus/attack-samples/Lateral_Movement_LM_typical_IIS_webshell_sysmon_1_10_traces.evtx
7115c48511d18d934d1e63417b7b1d5d2b4fef903e716852b00ebc481ee5f2e9	evtx-corpus/attack-samples/Lateral_Movement_LM_winrm_exec_sysmon_1_winrshost.evtx
e5d434f9ade9eafc12990d9826e7a92db801c1a138ab31dcb01f6fd172f3e42a	evtx-corpus/attack-samples/Lateral_Movement_LM_winrm_target_wrmlogs_91_wsmanShellStarted_poorLog.evtx
9d10de497c8d7929f262be305547d148bac17e1d4fd72222bfae3855ddf9c93a	evtx-corpus/attack-samples/Lateral_Movement_LM_wmi_PoisonHandler_Mr-Un1k0d3r_sysmon_1_13.evtx
21b8852b2b386f4d3f6f0c8a7304de8e628bb43cfa23888ab317b95b784ffe59	evtx-corpus/attack-samples/Lateral_Movement_LM_wmiexec_impacket_sysmon_whoami.evtx
ef281c4f1068fecbcdeae001665a8fe8d8f8af17125274fa55e195e685d1dc89	evtx-corpus/attack-samples/Lateral_Movement_LM_xp_cmdshell_MSSQL_Events.evtx
a39e30c118eb4da16994b0bc598a48b04258c63543f2163541ef0155e32d4341	evtx-corpus/attack-samples/Lateral_Movement_MSSQL_15281_xp_cmdshell_exec_failed_attempt.evtx
d3305bdf01975538062f13a534fc1b6cf61ca23c8c13e04a1bc75f43e6f552eb	evtx-corpus/attack-samples/Lateral_Movement_RemotePowerShell_MS_Windows-Remote_Management_EventID_169.evtx
daebe139e2647e9a5d887a7b9d8f6e023d3ca18a225e9e897746b04fd2c1af5c	evtx-corpus/attack-samples/Lateral_Movement_dfir_rdpsharp_target_RdpCoreTs_168_68_131.evtx
1ba7395ea70bcd250176771133eefaba0f1f19e5a4e60b9a17cbe8d81c34763d	evtx-corpus/attack-samples/Lateral_Movement_lateral_movement_startup_3_11.evtx
bde8db7a364e9fd3da953498690e5e6c81c7c915032ff98743074b91cb140824	evtx-corpus/attack-samples/Lateral_Movement_lm_remote_registry_sysmon_1_13_3.evtx
efdb2b2f2dd0864e82dabb693d38b44aea93e43c7df490ca3c94a4084da5c173	evtx-corpus/attack-samples/Lateral_Movement_lm_sysmon_18_remshell_over_namedpipe.evtx
0498ba26c42ada5acd5dd8e2730432b59b9a6a6b294051fd20b4af7f435a7fce	evtx-corpus/attack-samples/Lateral_Movement_net_share_drive_5142.evtx
914d90705f1f94e7cff9b8d074e9ed0fab4d35449bf1b18d9f37ea6afd3e84df	evtx-corpus/attack-samples/Lateral_Movement_powercat_revShell_sysmon_1_3.evtx
f03c8c5ff4114ef7baeba777d625a18f27edb4ce327f764cf6ed350b5f29c7bc	evtx-corpus/attack-samples/Lateral_Movement_remote_file_copy_system_proc_file_write_sysmon_11.evtx
82ef6ef9e7616c441e79059fcad9ea7b53358431769e924a0bba6408ecba5fce	evtx-corpus/attack-samples/Lateral_Movement_remote_task_update_4624_4702_same_logonid.evtx
e75cdf11d232a079606bd6fad30c0d13ccca98386268ef1fd1d76d6fc827e1b3	evtx-corpus/attack-samples/Lateral_Movement_sharprdp_sysmon_7_mstscax.dll.evtx
588869dc910cca84331e371310ddcc7ab4012a0cdb9d8d2661a0109642de8f8b	evtx-corpus/attack-samples/Lateral_Movement_smb_bi_auth_conn_spoolsample.evtx
21a69f9ea97e2a953c47fbb76a9a77682e128436c26ccf7445ae8012832e8def	evtx-corpus/attack-samples/Lateral_Movement_smbmap_upload_exec_sysmon.evtx
265dd0eafc5a5d553da2469c96c4964a208d52191d079abb3ef4dda847238eda	evtx-corpus/attack-samples/Lateral_Movement_spoolsample_5145.evtx
79092a6f3c1beed9205fc24210f327c08b10cb50123e047f63f768c3e5bcef57	evtx-corpus/attack-samples/Lateral_Movement_sysmon_1_exec_via_sql_xpcmdshell.evtx
2c8cb1ecaea860d599ae85397157eb8f3c0631a4bff949b576bcc007a78430de	evtx-corpus/attack-samples/Lateral_Movement_wmi_remote_registry_sysmon.evtx
c1639a23219f24f308e7001ffacb7e72ad6570154542adfbe5198c7c4abebd61	evtx-corpus/attack-samples/Other_emotet_exec_emotet_ps_4104.evtx
ba6381380022037d657972a6146af844fc2c05bab247d56a605ca0148d59a8b9	evtx-corpus/attack-samples/Other_emotet_exec_emotet_ps_800_get-item.evtx
6776429b2ac580b501ad591d9263d30482d58b4cb25445a03098b3d6f56e68df	evtx-corpus/attack-samples/Other_emotet_exec_emotet_ps_800_invoke-item.evtx
e65359ea8b2b9a2ea69c7f79bd8f3194e1a6570ce914a08c6249c823fa08ac6d	evtx-corpus/attack-samples/Other_emotet_exec_emotet_ps_800_new-item.evtx
b7aac9e35e5a605652f8d02e901535e56c039cfb5d421d44e2c91d3439cac265	evtx-corpus/attack-samples/Other_emotet_exec_emotet_ps_800_new-object.evtx
5d7347a786943c3d4cd0e5d10e8941df3218ce6f3b473ed7a76ff89997c3b83b	evtx-corpus/attack-samples/Other_emotet_exec_emotet_sysmon_1.evtx
fd59102d39891a81ee0e002bec2a855998c57e6439a10608fd9f4b12861e34a5	evtx-corpus/attack-samples/Other_maldoc_mshta_via_shellbrowserwind_rundll32.evtx
fdd890565a1c0e5a8efd2a554c18acf32d43852f328abde89edda0031e999b61	evtx-corpus/attack-samples/Other_rdpcorets_148_mst120_bluekeep_rpdscan_full.evtx
3acc52d1c27a22db5cf7def3c317caf1c2f44b9db837e676815f9fa233e5a314	evtx-corpus/attack-samples/Persistence_DACL_DCSync_Right_Powerview__Add-DomainObjectAcl.evtx
9619b9d9d7bb8a277080167ff639fd9162e3d88d61d674cf1606beadce17ea5a	evtx-corpus/attack-samples/Persistence_Network_Service_Guest_added_to_admins_4732.evtx
f13ef5a54ea84140024e30f968ac00e5ce4b4434426f66fafa4479b01d92832a	evtx-corpus/attack-samples/Persistence_Persistence_Shime_Microsoft-Windows-Application-Experience_Program-Telemetry_500.evtx
c53b6f9d958302626c3a7c217b77d49dc5e239210820c3448c60667a41325e3f	evtx-corpus/attack-samples/Persistence_Persistence_Winsock_Catalog_Change_EventId_1.evtx
b8df8232d917fed223e2bf9abebb249489f84c6204c40b72dab6a74157d6f8bd	evtx-corpus/attack-samples/Persistence_evasion_persis_hidden_run_keyvalue_sysmon_13.evtx
c2ed1a0248ab716a863f52bbfbd04d215f919c7ecefdfe6778a383b5552fb4f7	evtx-corpus/attack-samples/Persistence_persist_bitsadmin_Microsoft-Windows-Bits-Client-Operational.evtx
5efdbe9d51c06538d20db3d132594326fbff8ac8b98c542805aaeb90779b9cde	evtx-corpus/attack-samples/Persistence_persist_firefox_comhijack_sysmon_11_13_7_1.evtx
1a066ced716a9580e28662dbfdc60f4446818281c387f4c7bc1acdd742186f1a	evtx-corpus/attack-samples/Persistence_persist_turla_outlook_backdoor_comhijack.evtx
5f482d8f769d13b4d90cdbfb114924fe3890e78eb1d0a619219e88a99a6f0f6e	evtx-corpus/attack-samples/Persistence_persist_valid_account_guest_rid_hijack.evtx
37f5121b071db0333b19d81b676a5e31f63c99c6fd52f504f96659c927827e0d	evtx-corpus/attack-samples/Persistence_persistence_SilentProcessExit_ImageHijack_sysmon_13_1.evtx
9a99994be7f64e5111370cfd1f5f541a7a5e8a1e31911b14e0881811f6ea2925	evtx-corpus/attack-samples/Persistence_persistence_accessibility_features_osk_sysmon1.evtx
c472b0b7808c310b910af5e099ac7bcbf803adfd68d4edb56c73bf01e9c4bb8c	evtx-corpus/attack-samples/Persistence_persistence_hidden_local_account_sysmon.evtx
cf9b918ac583028815e8ca5a547265221f745a92e5d093e759e5b00958db538b	evtx-corpus/attack-samples/Persistence_persistence_pendingGPO_sysmon_13.evtx
524c34f83dd4dd1091100222caaf36e92aa3eaaf974f7aa0c07ad97aefcdcb66	evtx-corpus/attack-samples/Persistence_persistence_security_dcshadow_4742.evtx
4a6544a5b564fd84d299cea4c97e8f1c813f13ac0f5d24fa751f28c022b31801	evtx-corpus/attack-samples/Persistence_persistence_startup_UserShellStartup_Folder_Changed_sysmon_13.evtx
799420511f35300d3a071ca2c047d2edd49324d24544214a8124babe3fee9f90	evtx-corpus/attack-samples/Persistence_persistence_sysmon_11_13_1_shime_appfix.evtx
78592aa982a478d1a65f56853bdf3817a3d5c79db3b1ca64642e1a2e16064423	evtx-corpus/attack-samples/Persistence_sysmon_13_1_persistence_via_winlogon_shell.evtx
f2ac975c8dd1671a66ddbff5d9d59aa76f6577956d8c394970cbe11020837f78	evtx-corpus/attack-samples/Persistence_sysmon_1_persist_bitsjob_SetNotifyCmdLine.evtx
29913aef999a1e4d8f6fad34025912a7585088c599feb808f741a0bcb0c5f417	evtx-corpus/attack-samples/Persistence_sysmon_1_smss_child_proc_bootexecute_setupexecute.evtx
136cd2549e4944e66c6f26aabafea84011ba011982ac1cf35cde7cb52d32b358	evtx-corpus/attack-samples/Persistence_sysmon_20_21_1_CommandLineEventConsumer.evtx
85851f4724cf490d26ec96f8f546ee07d8354a381e3f16f83afd4cfd46cbbb7c	evtx-corpus/attack-samples/Persistence_sysmon_local_account_creation_and_added_admingroup_12_13.evtx
687c5cbe9a912bd8688692489bd94bb91f0518e3008535469e4fc4e1adc59446	evtx-corpus/attack-samples/Persistence_wmighost_sysmon_20_21_1.evtx
b058ae02bbed96921cc0bb65088a3692b4ccd1c5b7aa65a318df353f09fcf6da	evtx-corpus/attack-samples/Privilege_Escalation_4624_LT3_AnonymousLogon_Localhost_-_JuicyPotato.evtx
2e1aadc0097be6dc61803134c7fa8a4e0ddc33a2aa9c063f8a65cee3c14acade	evtx-corpus/attack-samples/Privilege_Escalation_4765_sidhistory_add_t1178.evtx
58c0e61d14c25300c9473b842cec25cb5fb1dd517adf9259f3c3460031a97c9a	evtx-corpus/attack-samples/Privilege_Escalation_CVE-2020-0796_SMBV3Ghost_LocalPrivEsc_Sysmon_3_1_10.evtx
b90b44749a59f8b45827de083e3276d0635310077d51100f1110bf34e555bfc0	evtx-corpus/attack-samples/Privilege_Escalation_EfsPotato_sysmon_17_18_privesc_seimpersonate_to_system.evtx
8e8a735ccfa261b60607d907fb825dc231d067b8bd3da5a32cdabc810ca8abfe	evtx-corpus/attack-samples/Privilege_Escalation_Invoke_TokenDuplication_UAC_Bypass4624.evtx
26fd9de9bc19b4af5308c30b51d2ca17b0518f8c89826fceb092c86a01f42b2b	evtx-corpus/attack-samples/Privilege_Escalation_NTLM2SelfRelay-med0x2e-security_4624_4688.evtx
278c679da912063fdecc9475cf73a2751bc5576e4a8b644add46bd6c8b0af4b1	evtx-corpus/attack-samples/Privilege_Escalation_PrivEsc_CVE-2020-1313_Sysmon_13_UScheduler_Cmdline.evtx
498ce5682bd58d81edba3a704d82afe80ba9e7a0bbc1ba06b85c72c1f08563fc	evtx-corpus/attack-samples/Privilege_Escalation_PrivEsc_Imperson_NetSvc_to_Sys_Decoder_Sysmon_1_17_18.evtx
2fe940895252a4faa77d036112862f964350adc00b1005dedca4a9a1e00b00d7	evtx-corpus/attack-samples/Privilege_Escalation_PrivEsc_NetSvc_SessionToken_Retrival_via_localSMB_Auth_5145.evtx
d6840c8618b24ef671a9810daad60cbd1e12dafe35fba300f5bc54d71a94156a	evtx-corpus/attack-samples/Privilege_Escalation_PrivEsc_SeImpersonatePriv_enabled_back_for_upnp_localsvc_4698.evtx
9b650416ac195034dd0e22b7152de9326828c2587a4a52baf60ed83f2b4e9a7f	evtx-corpus/attack-samples/Privilege_Escalation_RogueWinRM.evtx
23dc9b1713896d35c98834101846985453161631045b3b96e1c363800ad686d7	evtx-corpus/attack-samples/Privilege_Escalation_Runas_4624_4648_Webshell_CreateProcessAsUserA.evtx
343bf81c3dbf508432ba4b2eb2fceef7cb59653417d3e209ffb7cbd2fa485050	evtx-corpus/attack-samples/Privilege_Escalation_Sysmon_13_1_UACBypass_SDCLTBypass.evtx
d4abc83c9668060532b20ada82a2dfc8fd9b106be0eaea539c9d75dc7d8c8043	evtx-corpus/attack-samples/Privilege_Escalation_Sysmon_13_1_UAC_Bypass_EventVwrBypass.evtx
45f90c35f977592fa8a5fd5205e73fade980d633bae219dfaeb65de8a27ba18c	evtx-corpus/attack-samples/Privilege_Escalation_Sysmon_UACME_22.evtx
c742e7767e11e4810cbbe77f53d04e855241b85b1df30c954e9210e50b5ba772	evtx-corpus/attack-samples/Privilege_Escalation_Sysmon_UACME_23.evtx
044ee159b0b9617086c74ed6ef183353496573a952be079b2644018af2a4bd04	evtx-corpus/attack-samples/Privilege_Escalation_Sysmon_UACME_30.evtx
3729a7b639782b909b22c3b4ccaacbf1f7acaf8311221cb7976c3e12d863cfbc	evtx-corpus/attack-samples/Privilege_Escalation_Sysmon_UACME_32.evtx
369fe7264d8d343659fb8ef0cbf9a9cc2dfff06958e2dd173dfb7ecb8d9093fd	evtx-corpus/attack-samples/Privilege_Escalation_Sysmon_UACME_33.evtx
d3b277e1165eec22392054022ed239d68adfcd654b663076fec062e20c8ea336	evtx-corpus/attack-samples/Privilege_Escalation_Sysmon_UACME_34.evtx
a84ee8dd4a45fcca42d0af62a6bcd1817c09baee8e4211a24dd1484f4c1eb4eb	evtx-corpus/attack-samples/Privilege_Escalation_Sysmon_UACME_36_FileCreate.evtx
0b3893de16d5b7bf94337a08706a0b158965ab9aa6e20a0dd968883f96d0e1db	evtx-corpus/attack-samples/Privilege_Escalation_Sysmon_UACME_37_FileCreate.evtx
42075b5afd438fbeee2b87ebb085558350c4a3d40d1b5677a3aba10a81d6a522	evtx-corpus/attack-samples/Privilege_Escalation_Sysmon_UACME_38.evtx
85c32ce26cbd8bf03c44b26d4a913188b38890ed40b8ab855b1f5ccbed703b66	evtx-corpus/attack-samples/Privilege_Escalation_Sysmon_UACME_39.evtx
10607601e5ab7476fa8920ca63ace9f29ccbe79279e1731436b9d009f36ba2f0	evtx-corpus/attack-samples/Privilege_Escalation_Sysmon_UACME_41.evtx
47bdaa367dfadf39d6b55587f38c488642836305d593aa6452e6ac51bb88ad3c	evtx-corpus/attack-samples/Privilege_Escalation_Sysmon_UACME_43.evtx
aae67b99a0b4103513bb678f9d3d5222a402a5e202d8d3fb1c6bcf085c7548fd	evtx-corpus/attack-samples/Privilege_Escalation_Sysmon_UACME_45.evtx
3a6f512f47e00da769d1076fe0367c15f3f787a79cdc8909b74e04f002d3e0f9	evtx-corpus/attack-samples/Privilege_Escalation_Sysmon_UACME_53.evtx
90fa9a2b3bdd8414df20846634badf9d6a50882db92caa8b7a163aef6d6aafe1	evtx-corpus/attack-samples/Privilege_Escalation_Sysmon_UACME_54.evtx
a1f83d4189384d95693bb33ffe90f09b82d0a9ff7219bf37b51727d667be54af	evtx-corpus/attack-samples/Privilege_Escalation_Sysmon_UACME_56.evtx
5cbfc3e5c3dfe38ae5c121b2de344229e73e5abb32deba6bf402e6d844b7bf72	evtx-corpus/attack-samples/Privilege_Escalation_Sysmon_UACME_63.evtx
b1a47437b3095b0660f069d107800427279c07448a4a470ad7c6c7ca2e27bced	evtx-corpus/attack-samples/Privilege_Escalation_Sysmon_UACME_64.evtx
40e37fb256e29dd27df7741da1443df59a688d47c295b0855cddc37a78398ffb	evtx-corpus/attack-samples/Privilege_Escalation_Sysmon_uacme_58.evtx
21a62694861beff246ea9fb357b908541b4acefaefdb7ecd6281b64df96cb187	evtx-corpus/attack-samples/Privilege_Escalation_System_7045_namedpipe_privesc.evtx
1de3775180143fd5d956bae48f572367534ae8c10f6ffbe98dd4b4e0e47e0fa1	evtx-corpus/attack-samples/Privilege_Escalation_UACME_59_Sysmon.evtx
65fe36818330f6e07731e2efed639091fce4bf836673832e4b6e6092b00ffae3	evtx-corpus/attack-samples/Privilege_Escalation_UACME_61_Changepk.evtx
3175fc1489e8ba07035396e8175b8b54a08e5fdc0bb58cafdb19a58dd70bfb58	evtx-corpus/attack-samples/Privilege_Escalation_eop_appcontainer_il_broker_filewrite.evtx
f8c7ee23333b228ba05bbae43f410ae9d92244ea6531c369a081e32205c0bc82	evtx-corpus/attack-samples/Privilege_Escalation_privesc_KrbRelayUp_windows_4624.evtx
f273b368f752e24ebdc4f84fb0896ea2d5b95cb4916e261e7e2af7ac63609a76	evtx-corpus/attack-samples/Privilege_Escalation_privesc_registry_symlink_CVE-2020-1377.evtx
21bcc12aed93c390545c1b07005a681e1c9e9dbe5d47983c273518456855595d	evtx-corpus/attack-samples/Privilege_Escalation_privesc_roguepotato_sysmon_17_18.evtx
03d1d202bdf50f7290da06e816ddf9535705f90acebbb0ccae7d2e62dcbf6699	evtx-corpus/attack-samples/Privilege_Escalation_privesc_rotten_potato_from_webshell_metasploit_sysmon_1_8_3.evtx
868533829b979d925c0f4a488a6380bcb85d939a3ad2b1196be5335c38265cf7	evtx-corpus/attack-samples/Privilege_Escalation_privesc_seimpersonate_tosys_spoolsv_sysmon_17_18.evtx
9457cdfd5159e9b25185352a66f9ec1d14cc84f1780ea282e47c5653c28fad58	evtx-corpus/attack-samples/Privilege_Escalation_privesc_spoolfool_mahdihtm_sysmon_1_11_7_13.evtx
44c56f76471969f91b4df8f00d3ed087536c99924141b7cd9bdc031e67b5dd3d	evtx-corpus/attack-samples/Privilege_Escalation_privesc_spoolsv_spl_file_write_sysmon11.evtx
c220b523b3b788bc593208622058bd54c634005b104aeaf5f177a35aea1e8312	evtx-corpus/attack-samples/Privilege_Escalation_privesc_sysmon_cve_20201030_spooler.evtx
5b3bd618ff215254db994f223f1700082dbb1f339a651e1c89ae41d857edbcc2	evtx-corpus/attack-samples/Privilege_Escalation_privesc_unquoted_svc_sysmon_1_11.evtx
321c68c4f41b47c69f8cf050c572a27be77ee1818716c5d79d746d1c805901ad	evtx-corpus/attack-samples/Privilege_Escalation_privexchange_dirkjan.evtx
d3cf4940a0400a615e7e848a16de8d957bd12ccb99f7c9ce247b17a72a55d212	evtx-corpus/attack-samples/Privilege_Escalation_samaccount_spoofing_CVE-2021-42287_CVE-2021-42278_DC_securitylogs.evtx
2546b08851204db18c8f60722dcbb406356b323fbcd790774949e8a0168cc4e7	evtx-corpus/attack-samples/Privilege_Escalation_security_4624_4673_token_manip.evtx
48f65d146e64c9c58a4774d03ba83aa120c307e52a0a1d21975fb225125abbff	evtx-corpus/attack-samples/Privilege_Escalation_sysmon_11_1_15_WScriptBypassUAC.evtx
08d994196edc3477b7e860bf5ef97173daa1d82f3132759fe78db96c80383c20	evtx-corpus/attack-samples/Privilege_Escalation_sysmon_11_1_7_uacbypass_cliconfg.evtx
d75d688bd1df279d32b75aab51a162465d3351c5aae1f7386ad8d4c8dc86528a	evtx-corpus/attack-samples/Privilege_Escalation_sysmon_11_7_1_uacbypass_windirectory_mocking.evtx
7a0312bce23cc20e719ffc6ca2cf62ec2b8a9a3f67d0048d7e16a6bdbf134092	evtx-corpus/attack-samples/Privilege_Escalation_sysmon_13_1_12_11_perfmonUACBypass.evtx
2bf934cb66f81fd5abfa5b32c7a50159184c260401e09407513bdb59066e2e93	evtx-corpus/attack-samples/Privilege_Escalation_sysmon_13_1_compmgmtlauncherUACBypass.evtx
9e1fbb0604db5e559c1f65d51b85c35625f6a43d071598f161dd32f70d597722	evtx-corpus/attack-samples/Privilege_Escalation_sysmon_13_1_meterpreter_getsystem_NamedPipeImpersonation.evtx
6b2ae54c6e3926f62101c2f8f85e7003869de534af1b17d309a0a84298e70edd	evtx-corpus/attack-samples/Privilege_Escalation_sysmon_1_11_exec_as_system_via_schedtask.evtx
6a49ee4d01b15f45c72f242655595613ee06eb5797488d6de7b25b7a1dca85a1	evtx-corpus/attack-samples/Privilege_Escalation_sysmon_1_13_11_cmstp_ini_uacbypass.evtx
8296ad4d09de6d796da8b7dc27aea2f44b261ee12b6a54ef83e2a805cd5b8b87	evtx-corpus/attack-samples/Privilege_Escalation_sysmon_1_13_UACBypass_AppPath_Control.evtx
2a6fdd4c4c3b650cf267f02ee87a2cac27362054d37b1834ca92aadbe0b21854	evtx-corpus/attack-samples/Privilege_Escalation_sysmon_1_7_11_mcx2prov_uacbypass.evtx
83b13ff4ae16dfaa212229c672e4bcc16a3b6ab39c96bcd46a376bb99229dc9d	evtx-corpus/attack-samples/Privilege_Escalation_sysmon_1_7_11_migwiz.evtx
230e09d306b1ab52ec5502b8768042a13f375449012485f3bac9191ccffe0c25	evtx-corpus/attack-samples/Privilege_Escalation_sysmon_1_7_11_sysprep_uacbypass.evtx
199b9686cf89e3b6b9e00330c2b707a1de99eafc908992252d2266a25594de76	evtx-corpus/attack-samples/Privilege_Escalation_sysmon_1_7_elevate_uacbypass_sysprep.evtx
0e6a64e50207a8772b413dc4cc66c02def3c2d070c923a1faa9d4ad4c5c73ab5	evtx-corpus/attack-samples/Privilege_Escalation_sysmon_privesc_from_admin_to_system_handle_inheritance.evtx
a79a14dcaac146c06c4d3dc3eb5a6ca1eaf62c93d65f47699a2aa5e88e436223	evtx-corpus/attack-samples/Privilege_Escalation_sysmon_privesc_psexec_dwell.evtx
6265ba7f12b850cf2ebcee735ee24aa26b66e757f2cfa05759c58f0a4aedf83f	evtx-corpus/attack-samples/Privilege_Escalation_sysmon_uacbypass_CDSSync_schtask_hijack_byeintegrity5.evtx
df34b4db3dae36c7bc4ae807782e72af0097491674247405b5f71adaa119a4c5	evtx-corpus/attack-samples/Privilege_Escalation_win10_4703_SeDebugPrivilege_enabled.evtx
1de3775180143fd5d956bae48f572367534ae8c10f6ffbe98dd4b4e0e47e0fa1	evtx-corpus/attack-samples/UACME_59_Sysmon.evtx

# In the repository (testdata/thirdparty, CC0-1.0, MIT, DRL 1.1): copied to
# the places ../shared/data has them.
@ . - thirdparty
3cf3d18a4a905b33c03d9743775b504bf63de253928dc3c64268b4bec7540559	evtx-rdp/ID1149_RDP_success_logins_multiple_hosts.evtx	testdata/thirdparty/evtx-to-mitre-attack/ID1149_RDP_success_logins_multiple_hosts.evtx
d15da5b8dfe3a8e28d3a2423e031891167f5d94db4b8dea80bf8de06d787f341	evtx-rdp/ID4688-4778-4779_RDP_hijack_direct.evtx	testdata/thirdparty/evtx-to-mitre-attack/ID4688-4778-4779_RDP_hijack_direct.evtx
3b09bb1a0cb852bf065ce829ea5d23981e4d237c7f3dd4237fb42e04c4a11940	evtx/ID4688-4778_RDP_hijack_command_execution.evtx	testdata/thirdparty/evtx-to-mitre-attack/ID4688-4778_RDP_hijack_command_execution.evtx
bff307525e879dabb85b7f81a12dda7e18b9e599bbb6e5e3e8ce04eee1eaf48f	json/otrf_rdp_interactive_taskmanager_proc_logon_subset.jsonl	testdata/thirdparty/otrf-security-datasets/otrf_rdp_interactive_taskmanager_proc_logon_subset.jsonl
ca02fd8ce4f38082a7c5ff2b649df1d5f343cc1e651cb2f599eabf921bc15827	evtx-corpus/evtx-rs/2-vss_7-System.evtx	testdata/thirdparty/evtx-rs/2-vss_7-System.evtx
50c87926d2dfed9776906ffbcc77e61577940910a71fb1c1871860a4e2213456	evtx-corpus/evtx-rs/Security_short_selected.evtx	testdata/thirdparty/evtx-rs/Security_short_selected.evtx
6f9fe51d0a5dec63dc68f819e23bc14da5db0b75db4a68dfdf6b39f02868a379	evtx-corpus/evtx-rs/new-user-security.evtx	testdata/thirdparty/evtx-rs/new-user-security.evtx
5d3114ed5407d73c09205c3e5603ff941fbc1153b8e4ae475de6c2f5a53970fc	evtx-corpus/evtx-rs/post-Security.evtx	testdata/thirdparty/evtx-rs/post-Security.evtx
5f29a03cf8c1b4bfbd82c4074ccc81ecfe85d7ee15375afc352ed5025c9a4d8d	evtx-corpus/evtx-rs/security.evtx	testdata/thirdparty/evtx-rs/security.evtx
e1817fd7241ad2b5b9660e179adec878d157f1fa25333e52aef263c69bcd970b	evtx-corpus/evtx-rs/sysmon.evtx	testdata/thirdparty/evtx-rs/sysmon.evtx
60e5fd8f10a3deecd58bd7bee2e03b1308d190fd13b52908be9d576c7f5d6623	evtx-corpus/evtx-rs/system.evtx	testdata/thirdparty/evtx-rs/system.evtx
bbbe39975c11bffe9ea1e677cd5d20298d2d262c0f14a2ce3606f7f5f7e163d4	evtx/sigma_regression_chcp_sysmon1.evtx	testdata/thirdparty/sigma/sigma_regression_chcp_sysmon1.evtx
1348c7521d54a114329877b4463bd7118286d8e50c886a8704ae9fd9ccdf9b8d	json/sigma_regression_chcp_sysmon1.json	testdata/thirdparty/sigma/sigma_regression_chcp_sysmon1.json
MANIFEST
}

main "$@"
