package config

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/viper"
)

// kind is the type of a configuration value.
type kind uint8

const (
	kindBool kind = iota
	kindString
	kindStrings
	kindInt
	kindDuration
	kindSources
)

// keyInfo describes one configuration key.
type keyInfo struct {
	kind kind
	def  any    // viper default; nil when the key has none
	env  bool   // settable from the environment
	want string // what is allowed, as error messages say it
}

// MaxStoreEvents is the largest store.max_events accepted: far beyond any
// real number of detections, and small enough that a typo's extra zeros
// cannot let the store grow until the host runs out of memory.
const MaxStoreEvents = 10_000_000

// Bounds of store.max_bytes: the store's byte budget (each row counted by
// the size of its query reply). The floor leaves room for a few of the
// largest rows; the ceiling, like MaxStoreEvents, stops a typo.
const (
	MinStoreBytes     = 1 << 20
	MaxStoreBytes     = 1 << 34
	DefaultStoreBytes = 64 << 20
)

// Bounds of input.max_record_bytes: a record (an NDJSON line, a JSON
// document, an XML event) longer than the setting is reported and skipped
// without being held whole.
const (
	MinRecordBytes     = 4 << 10
	MaxRecordBytes     = 1 << 30
	DefaultRecordBytes = 16 << 20
)

// Bounds of input.max_spool: EVTX arriving compressed or on standard input
// is copied to a temporary file for random access, at most this much. The
// default keeps a gzip bomb (4 GiB of zeros compress to 4 MB) from filling
// a /tmp that is RAM (tmpfs), which the root extension is not kept from by
// quotas; the maximum is far past any real log.
const (
	MinSpoolBytes     = 1 << 20
	MaxSpoolBytes     = 64 << 30
	DefaultSpoolBytes = 512 << 20
)

// DefaultExpiry is the default store.expiry: as long as the longest time
// window of the shipped pack, Fleet query and policy ("no execution in the
// last 24 hours"), so none of them can miss a row that has already expired.
// Detections are rare and store.max_events bounds the store, so a day costs
// little. A test in cmd/tsclientwatch-ext reads deploy/ and holds every
// shipped window to this value.
const DefaultExpiry = 24 * time.Hour

// Allowed values of the keys inside one sources entry.
var (
	wantBool       = "true or false"
	wantSourceType = strings.Join(SourceTypes[:len(SourceTypes)-1], ", ") + " or " + SourceTypes[len(SourceTypes)-1]
	wantSourcePath = "the path of a log file or directory"
	wantInterval   = fmt.Sprintf("a duration from %v to %v with a unit, e.g. 10s (osquery sources only)", MinOsqueryInterval, MaxOsqueryInterval)
	wantTable      = strings.Join(OsqueryTables[:len(OsqueryTables)-1], ", ") + " or " + OsqueryTables[len(OsqueryTables)-1] + " (osquery sources only)"
	wantSocket     = "the path of osquery's extension socket, e.g. /var/osquery/osquery.em (osquery sources only)"
)

// schema lists every key. Sources cannot come from the environment: a list
// of records has no sensible one-line spelling.
var schema = map[string]keyInfo{
	"detector.strict": {kind: kindBool, def: false, env: true, want: wantBool},
	"detector.extensions": {kind: kindStrings, def: []string{".exe"}, env: true,
		want: `a non-empty list of file extensions, each a dot and a name, e.g. [".exe", ".scr"]`},
	"detector.xrdp_mount_names": {kind: kindStrings, def: []string{"thinclient_drives", ".thinclient_drives", "xrdp_client", "xrdp-client"}, env: true,
		want: "a list of directory names, e.g. [thinclient_drives, .thinclient_drives]"},
	"log.level": {kind: kindString, def: "info", env: true, want: "debug, info, warn or error"},
	"sources": {kind: kindSources,
		want: "a list of entries like {type: file, path: /var/log/x.evtx, follow: true}, type one of " + wantSourceType},
	"store.max_events": {kind: kindInt, def: 50000, env: true, want: fmt.Sprintf("a whole number from 1 to %d", MaxStoreEvents)},
	"state.dir": {kind: kindString, def: DefaultStateDir(), env: true,
		want: "an absolute directory path, or \"\" to keep detections in memory only"},
	"store.max_bytes": {kind: kindInt, def: DefaultStoreBytes, env: true,
		want: fmt.Sprintf("a whole number of bytes from %d to %d", MinStoreBytes, int64(MaxStoreBytes))},
	"input.max_record_bytes": {kind: kindInt, def: DefaultRecordBytes, env: true,
		want: fmt.Sprintf("a whole number of bytes from %d to %d", MinRecordBytes, MaxRecordBytes)},
	"input.max_spool": {kind: kindInt, def: DefaultSpoolBytes, env: true,
		want: fmt.Sprintf("a whole number of bytes from %d to %d", MinSpoolBytes, int64(MaxSpoolBytes))},
	"store.expiry":            {kind: kindDuration, def: DefaultExpiry.String(), env: true, want: "a positive duration with a unit, e.g. 90s, 30m or 24h"},
	"plugin.path":             {kind: kindString, def: "", env: true, want: "the path of the plugin binary, or empty to run the rule in process"},
	"plugin.sha256":           {kind: kindString, def: "", env: true, want: "the plugin's SHA-256 checksum as 64 hexadecimal digits"},
	"plugin.allow_unverified": {kind: kindBool, def: false, env: true, want: wantBool},
	"attribution.xrdp_sesman_log": {kind: kindString, def: DefaultXrdpSesmanLog, env: true,
		want: "the absolute path of xrdp-sesman's log file, or empty to read only utmp"},
	"evidence.hash": {kind: kindBool, def: true, env: true, want: wantBool},
	"evidence.dir": {kind: kindString, def: "", env: true,
		want: "an absolute directory path for copies of executed programs, or \"\" to keep none"},
	"evidence.max_file_bytes": {kind: kindInt, def: DefaultEvidenceMaxFile, env: true,
		want: fmt.Sprintf("a whole number of bytes from 1 to %d", int64(MaxEvidenceFile))},
	"evidence.max_dir_bytes": {kind: kindInt, def: DefaultEvidenceMaxDir, env: true,
		want: fmt.Sprintf("a whole number of bytes from %d to %d, at least evidence.max_file_bytes", MinEvidenceDir, int64(MaxEvidenceDir))},
	"evidence.concurrency": {kind: kindInt, def: DefaultEvidenceWorkers, env: true,
		want: fmt.Sprintf("a whole number of reads at once from 1 to %d", MaxEvidenceWorkers)},
	"evidence.timeout": {kind: kindDuration, def: DefaultEvidenceTimeout.String(), env: true,
		want: fmt.Sprintf("a duration from %v to %v with a unit, e.g. 30s", MinEvidenceTimeout, MaxEvidenceTimeout)},
	"evidence.queue": {kind: kindInt, def: DefaultEvidenceQueue, env: true,
		want: fmt.Sprintf("a whole number of detections from 1 to %d", MaxEvidenceQueue)},
}

// want returns what key allows; key may be a schema key, an element
// ("detector.extensions[2]") or a sources field ("sources[0].type").
func want(key string) string {
	if k, ok := schema[key]; ok {
		return k.want
	}
	if i := strings.LastIndexByte(key, ']'); i >= 0 {
		base, _, _ := strings.Cut(key, "[")
		switch field := strings.TrimPrefix(key[i+1:], "."); {
		case base == "sources" && field == "type":
			return wantSourceType
		case base == "sources" && field == "path":
			return wantSourcePath
		case base == "sources" && field == "follow":
			return wantBool
		case base == "sources" && field == "interval":
			return wantInterval
		case base == "sources" && field == "table":
			return wantTable
		case base == "sources" && field == "socket":
			return wantSocket
		case base == "sources":
			return "an entry with type, path and follow (and for osquery interval, table and socket)"
		case base == "detector.extensions":
			return `a file extension as a string, e.g. ".exe"`
		case base == "detector.xrdp_mount_names":
			return `a directory name as a string, e.g. "thinclient_drives"`
		}
	}
	return ""
}

// sourceKeys are the keys of one sources entry.
var sourceKeys = []string{"type", "path", "follow", "interval", "table", "socket"}

// Keys returns every configuration key, sorted.
func Keys() []string {
	keys := make([]string, 0, len(schema))
	for k := range schema {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// origins remembers which layer set a key, so an error can say where to
// look.
type origins struct {
	file  string
	env   map[string]string // key -> variable name
	flags map[string]string // key -> "--flag"
}

func (o origins) of(key string) string {
	if f, ok := o.flags[key]; ok {
		return "flag " + f
	}
	if e, ok := o.env[key]; ok {
		return "environment " + e
	}
	if o.file != "" {
		return o.file
	}
	return "default"
}

// valueError is a bad value: `key: "value" is not ... (from ...); want
// ...`. Every error about a value goes through here, so each names the
// key, shows the value as written, where it came from and what is allowed.
func valueError(o origins, key string, val any, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	suffix := ""
	if w := want(key); w != "" && !strings.Contains(msg, "(want ") {
		suffix = "; want " + w
	}
	return fmt.Errorf("%s: %s %s (from %s)%s", key, show(val), msg, o.of(originKey(key)), suffix)
}

// originKey maps an element key to the schema key whose origin it shares.
func originKey(key string) string {
	base, _, _ := strings.Cut(key, "[")
	return base
}

// show renders a raw value the way the user wrote it.
func show(val any) string {
	switch x := val.(type) {
	case string:
		return strconv.Quote(x)
	case nil:
		return "(empty)"
	case []any:
		if len(x) == 0 {
			return "[] (empty list)"
		}
		return fmt.Sprintf("%v", x)
	default:
		return fmt.Sprintf("%v", x)
	}
}

// checkKeys rejects any key of a configuration file that the schema does
// not know, at any depth, including inside sources entries.
func checkKeys(file string, settings map[string]any) error {
	var unknown, notSection, empty []string
	var walk func(prefix string, m map[string]any)
	walk = func(prefix string, m map[string]any) {
		for k, val := range m {
			key := prefix + k
			if _, ok := schema[key]; ok {
				// "key:" with nothing after it is YAML's null; viper
				// would quietly use the default instead. No sources at
				// all is a valid thing to say, though.
				if val == nil && key != "sources" {
					empty = append(empty, key)
				}
				continue
			}
			if isSection(key) {
				if sub, ok := val.(map[string]any); ok {
					walk(key+".", sub)
				} else if val != nil {
					notSection = append(notSection, fmt.Sprintf("%s: %s is not a section (want keys below it, e.g. %s)", key, show(val), sectionExample(key)))
				}
				continue
			}
			unknown = append(unknown, key)
		}
	}
	walk("", settings)
	if list, ok := settings["sources"].([]any); ok {
		for i, entry := range list {
			m, ok := entry.(map[string]any)
			if !ok {
				continue // reported by decode with the value
			}
			for k := range m {
				if !contains(sourceKeys, strings.ToLower(k)) {
					unknown = append(unknown, fmt.Sprintf("sources[%d].%s", i, k))
				}
			}
		}
	}
	if len(notSection) > 0 {
		sort.Strings(notSection)
		return fmt.Errorf("%s: %s", file, notSection[0])
	}
	if len(empty) > 0 {
		sort.Strings(empty)
		return fmt.Errorf("%s: %s: (empty) has no value; give one, or remove the key to use the default; want %s", file, empty[0], want(empty[0]))
	}
	if len(unknown) == 0 {
		return nil
	}
	sort.Strings(unknown)
	return fmt.Errorf("%s: unknown configuration key %s (known keys: %s)", file, strings.Join(unknown, ", "), strings.Join(Keys(), ", "))
}

// isSection reports whether key is a prefix of some schema key.
func isSection(key string) bool {
	for k := range schema {
		if strings.HasPrefix(k, key+".") {
			return true
		}
	}
	return false
}

// sectionExample returns the first schema key below section.
func sectionExample(section string) string {
	for _, k := range Keys() {
		if strings.HasPrefix(k, section+".") {
			return k
		}
	}
	return section
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// decode reads every key from v, converts and validates it.
func decode(v *viper.Viper, o origins) (Config, error) {
	var cfg Config
	var err error
	if cfg.Detector.Strict, err = toBool(o, "detector.strict", v.Get("detector.strict")); err != nil {
		return Config{}, err
	}
	if cfg.Detector.Extensions, err = toStrings(o, "detector.extensions", v.Get("detector.extensions")); err != nil {
		return Config{}, err
	}
	if len(cfg.Detector.Extensions) == 0 {
		return Config{}, fmt.Errorf("detector.extensions: [] is an empty list, which would detect nothing (from %s); want %s", o.of("detector.extensions"), want("detector.extensions"))
	}
	if cfg.Detector.XrdpMountNames, err = toStrings(o, "detector.xrdp_mount_names", v.Get("detector.xrdp_mount_names")); err != nil {
		return Config{}, err
	}
	if err := cfg.Detector.Validate(); err != nil {
		// Validate names the key, the value and what is allowed; say where
		// it came from.
		key := "detector.extensions"
		if strings.HasPrefix(err.Error(), "detector.xrdp_mount_names") {
			key = "detector.xrdp_mount_names"
		}
		return Config{}, fmt.Errorf("%w (from %s)", err, o.of(key))
	}

	level, err := toString(o, "log.level", v.Get("log.level"))
	if err != nil {
		return Config{}, err
	}
	cfg.Log.Level = strings.ToLower(strings.TrimSpace(level))
	if !contains(LogLevels, cfg.Log.Level) {
		return Config{}, valueError(o, "log.level", level, "is not a log level")
	}

	if cfg.Sources, err = toSources(o, v.Get("sources")); err != nil {
		return Config{}, err
	}

	if cfg.Store.MaxEvents, err = toInt(o, "store.max_events", v.Get("store.max_events")); err != nil {
		return Config{}, err
	}
	if cfg.Store.MaxEvents < 1 || cfg.Store.MaxEvents > MaxStoreEvents {
		return Config{}, valueError(o, "store.max_events", v.Get("store.max_events"), "is out of range")
	}
	if cfg.State.Dir, err = toString(o, "state.dir", v.Get("state.dir")); err != nil {
		return Config{}, err
	}
	if d := cfg.State.Dir; d != "" && (strings.TrimSpace(d) == "" || !filepath.IsAbs(d)) {
		return Config{}, valueError(o, "state.dir", d, "is not an absolute path")
	}
	maxBytes, err := toInt(o, "store.max_bytes", v.Get("store.max_bytes"))
	if err != nil {
		return Config{}, err
	}
	if cfg.Store.MaxBytes = int64(maxBytes); cfg.Store.MaxBytes < MinStoreBytes || cfg.Store.MaxBytes > MaxStoreBytes {
		return Config{}, valueError(o, "store.max_bytes", v.Get("store.max_bytes"), "is out of range")
	}
	if cfg.Input.MaxRecordBytes, err = toInt(o, "input.max_record_bytes", v.Get("input.max_record_bytes")); err != nil {
		return Config{}, err
	}
	if cfg.Input.MaxRecordBytes < MinRecordBytes || cfg.Input.MaxRecordBytes > MaxRecordBytes {
		return Config{}, valueError(o, "input.max_record_bytes", v.Get("input.max_record_bytes"), "is out of range")
	}
	if cfg.Input.MaxSpool, err = toInt64(o, "input.max_spool", v.Get("input.max_spool")); err != nil {
		return Config{}, err
	}
	if cfg.Input.MaxSpool < MinSpoolBytes || cfg.Input.MaxSpool > MaxSpoolBytes {
		return Config{}, valueError(o, "input.max_spool", v.Get("input.max_spool"), "is out of range")
	}
	if cfg.Store.Expiry, err = toDuration(o, "store.expiry", v.Get("store.expiry")); err != nil {
		return Config{}, err
	}
	if cfg.Store.Expiry <= 0 {
		return Config{}, valueError(o, "store.expiry", v.Get("store.expiry"), "is not a positive duration")
	}

	if cfg.Plugin.Path, err = toString(o, "plugin.path", v.Get("plugin.path")); err != nil {
		return Config{}, err
	}
	if cfg.Plugin.Path != "" {
		if strings.TrimSpace(cfg.Plugin.Path) == "" {
			return Config{}, valueError(o, "plugin.path", cfg.Plugin.Path, "is blank")
		}
		// Launch checks the file thoroughly; catch the plain mistake of
		// naming the directory here, where the key can be named.
		if fi, err := os.Stat(cfg.Plugin.Path); err == nil && fi.IsDir() {
			return Config{}, valueError(o, "plugin.path", cfg.Plugin.Path, "is a directory")
		}
	}
	sum, err := toString(o, "plugin.sha256", v.Get("plugin.sha256"))
	if err != nil {
		return Config{}, err
	}
	cfg.Plugin.SHA256 = strings.ToLower(strings.TrimSpace(sum))
	if cfg.Plugin.SHA256 != "" && !isHex64(cfg.Plugin.SHA256) {
		return Config{}, valueError(o, "plugin.sha256", sum, "is not a SHA-256 checksum")
	}
	if cfg.Plugin.AllowUnverified, err = toBool(o, "plugin.allow_unverified", v.Get("plugin.allow_unverified")); err != nil {
		return Config{}, err
	}
	if cfg.Plugin.Path != "" && cfg.Plugin.SHA256 == "" && !cfg.Plugin.AllowUnverified {
		return Config{}, fmt.Errorf("plugin.sha256: required when plugin.path is set (%s from %s); want %s, or set plugin.allow_unverified to run the plugin unchecked", strconv.Quote(cfg.Plugin.Path), o.of("plugin.path"), want("plugin.sha256"))
	}
	if cfg.Attribution.XrdpSesmanLog, err = toString(o, "attribution.xrdp_sesman_log", v.Get("attribution.xrdp_sesman_log")); err != nil {
		return Config{}, err
	}
	if err := checkLogPath(o, "attribution.xrdp_sesman_log", cfg.Attribution.XrdpSesmanLog); err != nil {
		return Config{}, err
	}
	if cfg.Evidence, err = toEvidence(o, v); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// toEvidence reads and checks the evidence.* keys.
func toEvidence(o origins, v *viper.Viper) (Evidence, error) {
	var e Evidence
	var err error
	if e.Hash, err = toBool(o, "evidence.hash", v.Get("evidence.hash")); err != nil {
		return e, err
	}
	if e.Dir, err = toString(o, "evidence.dir", v.Get("evidence.dir")); err != nil {
		return e, err
	}
	switch d := e.Dir; {
	case d == "":
	case strings.TrimSpace(d) == "":
		return e, valueError(o, "evidence.dir", d, "is blank")
	case strings.ContainsFunc(d, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return e, valueError(o, "evidence.dir", d, "holds a control character")
	case !filepath.IsAbs(d):
		return e, valueError(o, "evidence.dir", d, "is not an absolute path")
	}
	if e.MaxFileBytes, err = toInt64(o, "evidence.max_file_bytes", v.Get("evidence.max_file_bytes")); err != nil {
		return e, err
	}
	if e.MaxFileBytes < 1 || e.MaxFileBytes > MaxEvidenceFile {
		return e, valueError(o, "evidence.max_file_bytes", v.Get("evidence.max_file_bytes"), "is out of range")
	}
	if e.MaxDirBytes, err = toInt64(o, "evidence.max_dir_bytes", v.Get("evidence.max_dir_bytes")); err != nil {
		return e, err
	}
	if e.MaxDirBytes < MinEvidenceDir || e.MaxDirBytes > MaxEvidenceDir {
		return e, valueError(o, "evidence.max_dir_bytes", v.Get("evidence.max_dir_bytes"), "is out of range")
	}
	if e.MaxDirBytes < e.MaxFileBytes {
		// One copy of the largest program must fit, or every such copy
		// would evict all the others and then itself.
		return e, valueError(o, "evidence.max_dir_bytes", v.Get("evidence.max_dir_bytes"),
			"is below evidence.max_file_bytes (%d, from %s)", e.MaxFileBytes, o.of("evidence.max_file_bytes"))
	}
	if e.Concurrency, err = toInt(o, "evidence.concurrency", v.Get("evidence.concurrency")); err != nil {
		return e, err
	}
	if e.Concurrency < 1 || e.Concurrency > MaxEvidenceWorkers {
		return e, valueError(o, "evidence.concurrency", v.Get("evidence.concurrency"), "is out of range")
	}
	if e.Timeout, err = toDuration(o, "evidence.timeout", v.Get("evidence.timeout")); err != nil {
		return e, err
	}
	if e.Timeout < MinEvidenceTimeout || e.Timeout > MaxEvidenceTimeout {
		return e, valueError(o, "evidence.timeout", v.Get("evidence.timeout"), "is out of range")
	}
	if e.Queue, err = toInt(o, "evidence.queue", v.Get("evidence.queue")); err != nil {
		return e, err
	}
	if e.Queue < 1 || e.Queue > MaxEvidenceQueue {
		return e, valueError(o, "evidence.queue", v.Get("evidence.queue"), "is out of range")
	}
	return e, nil
}

// DefaultXrdpSesmanLog is where xrdp-sesman logs unless sesman.ini says
// otherwise: live Linux attribution reads it when utmp does not name an
// xrdp session's client.
const DefaultXrdpSesmanLog = "/var/log/xrdp-sesman.log"

// checkLogPath validates attribution.xrdp_sesman_log: empty (off), or an
// absolute path free of control characters that is not a directory.
func checkLogPath(o origins, key, p string) error {
	switch {
	case p == "":
		return nil
	case strings.TrimSpace(p) == "":
		return valueError(o, key, p, "is blank")
	case strings.ContainsFunc(p, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return valueError(o, key, p, "holds a control character")
	case !strings.HasPrefix(p, "/"):
		return valueError(o, key, p, "is not an absolute path")
	}
	if fi, err := os.Stat(p); err == nil && fi.IsDir() {
		return valueError(o, key, p, "is a directory")
	}
	return nil
}

func isHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func toBool(o origins, key string, val any) (bool, error) {
	switch x := val.(type) {
	case bool:
		return x, nil
	case string:
		switch strings.ToLower(strings.TrimSpace(x)) {
		case "true", "yes", "on", "1":
			return true, nil
		case "false", "no", "off", "0":
			return false, nil
		}
	}
	return false, valueError(o, key, val, "is not a boolean")
}

func toString(o origins, key string, val any) (string, error) {
	switch x := val.(type) {
	case string:
		return x, nil
	case nil:
		return "", nil
	case int, int64, uint64, float64, bool:
		// YAML reads unquoted 0123 or true as numbers and booleans.
		return "", valueError(o, key, val, "is not a string (put it in quotes)")
	}
	return "", valueError(o, key, val, "is not a string")
}

// toStrings accepts a list, or one string of comma-separated items (the
// spelling environment variables and flags use).
func toStrings(o origins, key string, val any) ([]string, error) {
	switch x := val.(type) {
	case nil:
		return nil, nil
	case []string:
		return trimAll(x), nil
	case string:
		if strings.TrimSpace(x) == "" {
			return nil, nil
		}
		return trimAll(strings.Split(x, ",")), nil
	case []any:
		out := make([]string, len(x))
		for i, item := range x {
			s, ok := item.(string)
			if !ok {
				return nil, valueError(o, fmt.Sprintf("%s[%d]", key, i), item, "is not a string")
			}
			out[i] = strings.TrimSpace(s)
		}
		return out, nil
	}
	return nil, valueError(o, key, val, "is not a list of strings")
}

func trimAll(list []string) []string {
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = strings.TrimSpace(s)
	}
	return out
}

// toInt converts a whole number, telling "not a whole number" apart from
// "too large to hold", so the message can say which.
func toInt(o origins, key string, val any) (int, error) {
	n, err := toInt64(o, key, val)
	if err != nil {
		return 0, err
	}
	if n < math.MinInt || n > math.MaxInt {
		return 0, valueError(o, key, val, "is out of range")
	}
	return int(n), nil
}

// toInt64 is toInt for values that may pass 2^31 on 32-bit builds (byte
// counts).
func toInt64(o origins, key string, val any) (int64, error) {
	switch x := val.(type) {
	case int:
		return int64(x), nil
	case int64:
		return x, nil
	case uint64:
		if x <= math.MaxInt64 {
			return int64(x), nil
		}
		return 0, valueError(o, key, val, "is out of range")
	case float64: // JSON numbers, and YAML integers too large for int64
		if x != math.Trunc(x) || math.IsInf(x, 0) || math.IsNaN(x) {
			break
		}
		if math.Abs(x) < 1<<53 {
			return int64(x), nil
		}
		return 0, valueError(o, key, val, "is out of range")
	case string:
		n, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64)
		if err == nil {
			return n, nil
		}
		if errors.Is(err, strconv.ErrRange) {
			return 0, valueError(o, key, val, "is out of range")
		}
	}
	return 0, valueError(o, key, val, "is not a whole number")
}

// toDuration accepts Go duration strings ("90s", "1h30m"). A bare number is
// refused: seconds or nanoseconds would be a guess.
func toDuration(o origins, key string, val any) (time.Duration, error) {
	switch x := val.(type) {
	case string:
		t := strings.TrimSpace(x)
		d, err := time.ParseDuration(t)
		if err == nil {
			return d, nil
		}
		if _, err := strconv.ParseFloat(t, 64); err == nil {
			return 0, valueError(o, key, val, "has no unit")
		}
	case time.Duration:
		return x, nil
	case int, int64, uint64, float64:
		return 0, valueError(o, key, val, "has no unit")
	}
	return 0, valueError(o, key, val, "is not a duration")
}

func toSources(o origins, val any) ([]SourceConfig, error) {
	list, ok := val.([]any)
	if val == nil || ok && len(list) == 0 {
		return nil, nil
	}
	if !ok {
		return nil, valueError(o, "sources", val, "is not a list of sources")
	}
	out := make([]SourceConfig, 0, len(list))
	seen := map[SourceConfig]int{} // type and cleaned path -> first index
	for i, item := range list {
		at := fmt.Sprintf("sources[%d]", i)
		m, ok := item.(map[string]any)
		if !ok {
			return nil, valueError(o, at, item, "is not a source")
		}
		var sc SourceConfig
		// viper lower-cases top-level keys but not those inside lists.
		fields := map[string]any{}
		for k, v := range m {
			fields[strings.ToLower(k)] = v
		}
		typ, err := toString(o, at+".type", fields["type"])
		if err != nil {
			return nil, err
		}
		sc.Type = strings.ToLower(strings.TrimSpace(typ))
		if !contains(SourceTypes, sc.Type) {
			if sc.Type == "" {
				return nil, valueError(o, at+".type", fields["type"], "is missing")
			}
			return nil, valueError(o, at+".type", typ, "is not a source type")
		}
		if sc.Path, err = toString(o, at+".path", fields["path"]); err != nil {
			return nil, err
		}
		if sc.Type == SourceFile && strings.TrimSpace(sc.Path) == "" {
			return nil, valueError(o, at+".path", fields["path"], "is missing; a file source needs the file or directory to read")
		}
		if sc.Type != SourceFile && sc.Path != "" {
			return nil, valueError(o, at+".path", sc.Path, "is not allowed for a %s source (want no path: only file sources have one)", sc.Type)
		}
		if f, ok := fields["follow"]; ok && f != nil {
			if sc.Follow, err = toBool(o, at+".follow", f); err != nil {
				return nil, err
			}
			if sc.Follow && sc.Type != SourceFile {
				return nil, valueError(o, at+".follow", f, "is not allowed for a %s source (want no follow: only file sources can be followed)", sc.Type)
			}
		}
		if err := osqueryFields(o, at, fields, &sc); err != nil {
			return nil, err
		}
		// The same input read twice would report every detection twice.
		key := SourceConfig{Type: sc.Type, Table: sc.Table, Socket: sc.Socket}
		if sc.Path != "" {
			key.Path = filepath.Clean(sc.Path)
		}
		if j, dup := seen[key]; dup {
			desc := "type " + sc.Type
			if sc.Path != "" {
				desc += ", path " + strconv.Quote(sc.Path)
			}
			return nil, fmt.Errorf("%s: {%s} duplicates sources[%d] (from %s); want each source once", at, desc, j, o.of("sources"))
		}
		seen[key] = i
		out = append(out, sc)
	}
	if err := checkLiveAlone(o, out); err != nil {
		return nil, err
	}
	return out, nil
}

// osqueryFields reads interval, table and socket, which only osquery
// sources have.
func osqueryFields(o origins, at string, fields map[string]any, sc *SourceConfig) error {
	if sc.Type != SourceOsquery {
		for _, k := range []string{"interval", "table", "socket"} {
			if v, ok := fields[k]; ok && v != nil {
				return valueError(o, at+"."+k, v, "is not allowed for a %s source (want no %s: only osquery sources have one)", sc.Type, k)
			}
		}
		return nil
	}
	sc.Interval, sc.Table = DefaultOsqueryInterval, "auto"
	if v, ok := fields["interval"]; ok && v != nil {
		d, err := toDuration(o, at+".interval", v)
		if err != nil {
			return err
		}
		if d < MinOsqueryInterval || d > MaxOsqueryInterval {
			return valueError(o, at+".interval", v, "is out of range")
		}
		sc.Interval = d
	}
	if v, ok := fields["table"]; ok && v != nil {
		t, err := toString(o, at+".table", v)
		if err != nil {
			return err
		}
		sc.Table = strings.ToLower(strings.TrimSpace(t))
		if !contains(OsqueryTables, sc.Table) {
			return valueError(o, at+".table", t, "is not an osquery process table")
		}
	}
	if v, ok := fields["socket"]; ok && v != nil {
		sock, err := toString(o, at+".socket", v)
		if err != nil {
			return err
		}
		if strings.TrimSpace(sock) == "" {
			return valueError(o, at+".socket", sock, "is blank")
		}
		sc.Socket = sock
	}
	return nil
}

// checkLiveAlone refuses live beside a mechanism by name: live already runs
// the platform's best mechanism, so both would report every process start
// twice (and on Windows hold two ETW sessions on one provider).
func checkLiveAlone(o origins, list []SourceConfig) error {
	liveAt := -1
	for i, sc := range list {
		if sc.Type == SourceLive {
			liveAt = i
			break
		}
	}
	if liveAt < 0 {
		return nil
	}
	for i, sc := range list {
		switch sc.Type {
		case SourceEBPF, SourceFanotify, SourceETW, SourceEventLog:
			return fmt.Errorf("sources[%d]: {type %s} cannot run beside sources[%d] {type live} (from %s): "+
				"live already runs this platform's best mechanism (etw, else eventlog, on Windows; ebpf, else fanotify, on Linux), "+
				"so both would report every process start twice; want either live alone or the mechanisms by name", i, sc.Type, liveAt, o.of("sources"))
		}
	}
	return nil
}
