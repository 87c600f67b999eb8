package config

import (
	"fmt"
	"math"
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
	def  any  // viper default; nil when the key has none
	env  bool // settable from the environment
}

// schema lists every key. Sources cannot come from the environment: a list
// of records has no sensible one-line spelling.
var schema = map[string]keyInfo{
	"detector.strict":           {kind: kindBool, def: false, env: true},
	"detector.extensions":       {kind: kindStrings, def: []string{".exe"}, env: true},
	"detector.xrdp_mount_names": {kind: kindStrings, def: []string{"thinclient_drives", ".thinclient_drives", "xrdp_client", "xrdp-client"}, env: true},
	"log.level":                 {kind: kindString, def: "info", env: true},
	"sources":                   {kind: kindSources},
	"store.max_events":          {kind: kindInt, def: 50000, env: true},
	"store.expiry":              {kind: kindDuration, def: "1h", env: true},
	"plugin.path":               {kind: kindString, def: "", env: true},
	"plugin.sha256":             {kind: kindString, def: "", env: true},
	"plugin.allow_unverified":   {kind: kindBool, def: false, env: true},
}

// sourceKeys are the keys of one sources entry.
var sourceKeys = []string{"type", "path", "follow"}

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

// valueError is a bad value: "key: "value" is not ... (from ...)".
func valueError(o origins, key string, val any, format string, args ...any) error {
	return fmt.Errorf("%s: %s %s (from %s)", key, show(val), fmt.Sprintf(format, args...), o.of(key))
}

// show renders a raw value the way the user wrote it.
func show(val any) string {
	switch x := val.(type) {
	case string:
		return strconv.Quote(x)
	case nil:
		return "empty value"
	default:
		return fmt.Sprintf("%v", x)
	}
}

// checkKeys rejects any key of a configuration file that the schema does
// not know, at any depth, including inside sources entries.
func checkKeys(file string, settings map[string]any) error {
	var unknown, notSection []string
	var walk func(prefix string, m map[string]any)
	walk = func(prefix string, m map[string]any) {
		for k, val := range m {
			key := prefix + k
			if _, ok := schema[key]; ok {
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
		return Config{}, fmt.Errorf("detector.extensions: empty list (want at least one extension, e.g. \".exe\") (from %s)", o.of("detector.extensions"))
	}
	if cfg.Detector.XrdpMountNames, err = toStrings(o, "detector.xrdp_mount_names", v.Get("detector.xrdp_mount_names")); err != nil {
		return Config{}, err
	}
	if err := cfg.Detector.Validate(); err != nil {
		// Validate names the key and the value; say where it came from.
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
		return Config{}, valueError(o, "log.level", level, "is not a log level (want %s)", strings.Join(LogLevels, ", "))
	}

	if cfg.Sources, err = toSources(o, v.Get("sources")); err != nil {
		return Config{}, err
	}

	if cfg.Store.MaxEvents, err = toInt(o, "store.max_events", v.Get("store.max_events")); err != nil {
		return Config{}, err
	}
	if cfg.Store.MaxEvents <= 0 {
		return Config{}, valueError(o, "store.max_events", cfg.Store.MaxEvents, "is not a positive number of events")
	}
	if cfg.Store.Expiry, err = toDuration(o, "store.expiry", v.Get("store.expiry")); err != nil {
		return Config{}, err
	}
	if cfg.Store.Expiry <= 0 {
		return Config{}, valueError(o, "store.expiry", v.Get("store.expiry"), "is not a positive duration (want e.g. 30m or 1h)")
	}

	if cfg.Plugin.Path, err = toString(o, "plugin.path", v.Get("plugin.path")); err != nil {
		return Config{}, err
	}
	sum, err := toString(o, "plugin.sha256", v.Get("plugin.sha256"))
	if err != nil {
		return Config{}, err
	}
	cfg.Plugin.SHA256 = strings.ToLower(strings.TrimSpace(sum))
	if cfg.Plugin.SHA256 != "" && !isHex64(cfg.Plugin.SHA256) {
		return Config{}, valueError(o, "plugin.sha256", sum, "is not a SHA-256 checksum (want 64 hexadecimal digits)")
	}
	if cfg.Plugin.AllowUnverified, err = toBool(o, "plugin.allow_unverified", v.Get("plugin.allow_unverified")); err != nil {
		return Config{}, err
	}
	if cfg.Plugin.Path != "" && cfg.Plugin.SHA256 == "" && !cfg.Plugin.AllowUnverified {
		return Config{}, fmt.Errorf("plugin.sha256: required when plugin.path is set (%s from %s); give the plugin's checksum, or set plugin.allow_unverified to run it unchecked", strconv.Quote(cfg.Plugin.Path), o.of("plugin.path"))
	}
	return cfg, nil
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
	return false, valueError(o, key, val, "is not true or false")
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

func toInt(o origins, key string, val any) (int, error) {
	switch x := val.(type) {
	case int:
		return x, nil
	case int64:
		if x >= math.MinInt && x <= math.MaxInt {
			return int(x), nil
		}
	case uint64:
		if x <= math.MaxInt {
			return int(x), nil
		}
	case float64: // JSON numbers
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return int(x), nil
		}
	case string:
		n, err := strconv.Atoi(strings.TrimSpace(x))
		if err == nil {
			return n, nil
		}
	}
	return 0, valueError(o, key, val, "is not a whole number")
}

// toDuration accepts Go duration strings ("90s", "1h30m"). A bare number is
// refused: seconds or nanoseconds would be a guess.
func toDuration(o origins, key string, val any) (time.Duration, error) {
	switch x := val.(type) {
	case string:
		d, err := time.ParseDuration(strings.TrimSpace(x))
		if err == nil {
			return d, nil
		}
	case time.Duration:
		return x, nil
	}
	return 0, valueError(o, key, val, "is not a duration (want a number with a unit, e.g. 90s, 30m or 1h)")
}

func toSources(o origins, val any) ([]SourceConfig, error) {
	list, ok := val.([]any)
	if val == nil || ok && len(list) == 0 {
		return nil, nil
	}
	if !ok {
		return nil, valueError(o, "sources", val, "is not a list of sources (want entries like {type: file, path: /var/log/x.evtx})")
	}
	out := make([]SourceConfig, 0, len(list))
	for i, item := range list {
		at := fmt.Sprintf("sources[%d]", i)
		m, ok := item.(map[string]any)
		if !ok {
			return nil, valueError(o, at, item, "is not a source (want an entry with type, path, follow)")
		}
		var sc SourceConfig
		// viper lower-cases top-level keys but not those inside lists.
		fields := map[string]any{}
		for k, v := range m {
			fields[strings.ToLower(k)] = v
		}
		var err error
		if sc.Type, err = toString(o, at+".type", fields["type"]); err != nil {
			return nil, err
		}
		if !contains(SourceTypes, sc.Type) {
			if sc.Type == "" {
				return nil, fmt.Errorf("%s.type: missing (want %s) (from %s)", at, strings.Join(SourceTypes, ", "), o.of("sources"))
			}
			return nil, valueError(o, at+".type", sc.Type, "is not a source type (want %s)", strings.Join(SourceTypes, ", "))
		}
		if sc.Path, err = toString(o, at+".path", fields["path"]); err != nil {
			return nil, err
		}
		if sc.Type == SourceFile && sc.Path == "" {
			return nil, fmt.Errorf("%s.path: missing (a file source needs the file or directory to read) (from %s)", at, o.of("sources"))
		}
		if sc.Type != SourceFile && sc.Path != "" {
			return nil, valueError(o, at+".path", sc.Path, "is not allowed for a %s source (only file sources have a path)", sc.Type)
		}
		if f, ok := fields["follow"]; ok && f != nil {
			if sc.Follow, err = toBool(o, at+".follow", f); err != nil {
				return nil, err
			}
		}
		out = append(out, sc)
	}
	return out, nil
}
