package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	toml "github.com/pelletier/go-toml/v2"
	"go.yaml.in/yaml/v3"
)

// utf8Text drops a UTF-8 byte order mark (Notepad writes one) and refuses
// other encodings with a message saying how to fix the file.
func utf8Text(path string, data []byte) ([]byte, error) {
	switch {
	case bytes.HasPrefix(data, []byte{0xEF, 0xBB, 0xBF}):
		data = data[3:]
	case bytes.HasPrefix(data, []byte{0xFF, 0xFE}), bytes.HasPrefix(data, []byte{0xFE, 0xFF}):
		return nil, fmt.Errorf("%s is UTF-16 text (want UTF-8: save it again choosing the UTF-8 encoding)", path)
	}
	if !utf8.Valid(data) {
		i := 0
		for i < len(data) {
			r, n := utf8.DecodeRune(data[i:])
			if r == utf8.RuneError && n == 1 {
				break
			}
			i += n
		}
		line, col := lineCol(data, i)
		return nil, fmt.Errorf("%s:%d:%d: byte 0x%02x is not UTF-8 text (want a UTF-8 file)", path, line, col, data[i])
	}
	return data, nil
}

// parse decodes data in the given format into a map with lower-case keys,
// as viper would, keeping null values so that checkKeys can refuse them.
// Syntax errors name the file and, where the parser gives it, the line.
func parse(path, ext string, data []byte) (map[string]any, error) {
	var m map[string]any
	var err error
	switch ext {
	case "yaml", "yml":
		err = yaml.Unmarshal(data, &m)
	case "toml":
		err = toml.Unmarshal(data, &m)
	case "json":
		if err = checkJSON(data); err == nil {
			err = json.Unmarshal(data, &m)
		}
	}
	if err != nil {
		return nil, syntaxError(path, data, err)
	}
	out, err := lowerKeys(m, "")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return out.(map[string]any), nil
}

// syntaxError puts the position the parser reports in front of its
// message, as path:line:column.
func syntaxError(path string, data []byte, err error) error {
	var (
		tomlErr *toml.DecodeError
		synErr  *json.SyntaxError
		typeErr *json.UnmarshalTypeError
		dupErr  *duplicateKeyError
	)
	switch {
	case errors.As(err, &tomlErr):
		row, col := tomlErr.Position()
		return fmt.Errorf("%s:%d:%d: %v", path, row, col, err)
	case errors.As(err, &synErr):
		line, col := lineCol(data, int(synErr.Offset))
		return fmt.Errorf("%s:%d:%d: json: %v", path, line, col, err)
	case errors.As(err, &typeErr):
		line, col := lineCol(data, int(typeErr.Offset))
		return fmt.Errorf("%s:%d:%d: %v (want an object of sections at the top)", path, line, col, err)
	case errors.As(err, &dupErr):
		line, col := lineCol(data, dupErr.offset)
		return fmt.Errorf("%s:%d:%d: json: key %q appears twice in one object (want each key once)", path, line, col, dupErr.key)
	}
	// yaml.v3 writes "yaml: line N: ..." itself.
	return fmt.Errorf("%s: %v", path, err)
}

// lineCol turns a byte offset into a 1-based line and column.
func lineCol(data []byte, off int) (line, col int) {
	off = min(max(off, 0), len(data))
	line = 1 + bytes.Count(data[:off], []byte{'\n'})
	col = off - bytes.LastIndexByte(data[:off], '\n')
	return line, col
}

type duplicateKeyError struct {
	key    string
	offset int
}

func (e *duplicateKeyError) Error() string { return fmt.Sprintf("duplicate key %q", e.key) }

// jsonFrame is an object or array open at some point of checkJSON's walk.
type jsonFrame struct {
	object  bool
	wantKey bool            // the next token is a key (objects only)
	keys    map[string]bool // keys seen so far (objects only)
}

// checkJSON refuses a key repeated in one object (keys compared without
// case, as the configuration treats them): encoding/json would silently keep
// the last one, while the YAML and TOML parsers refuse it themselves.
func checkJSON(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var stack []*jsonFrame
	// valueDone: the enclosing object, if any, now wants its next key.
	valueDone := func() {
		if n := len(stack); n > 0 && stack[n-1].object {
			stack[n-1].wantKey = true
		}
	}
	for {
		off := int(dec.InputOffset())
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if n := len(stack); n > 0 && stack[n-1].object && stack[n-1].wantKey {
			if d, ok := tok.(json.Delim); ok && d == '}' {
				stack = stack[:n-1]
				valueDone()
				continue
			}
			name, _ := tok.(string) // the decoder allows only strings here
			key := strings.ToLower(name)
			if stack[n-1].keys[key] {
				// off is before the comma preceding the key.
				return &duplicateKeyError{key: name, offset: off + max(bytes.IndexByte(data[off:], '"'), 0)}
			}
			stack[n-1].keys[key] = true
			stack[n-1].wantKey = false
			continue
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &jsonFrame{object: true, wantKey: true, keys: map[string]bool{}})
		case json.Delim('['):
			stack = append(stack, &jsonFrame{})
		case json.Delim(']'):
			stack = stack[:len(stack)-1]
			valueDone()
		default:
			valueDone()
		}
	}
}

// lowerKeys copies v with every map key in lower case, as viper reads
// keys, and turns YAML's map[any]any into map[string]any. Two keys that
// differ only in case are refused rather than one silently winning.
func lowerKeys(v any, at string) (any, error) {
	switch x := v.(type) {
	case nil:
		if at == "" {
			return map[string]any{}, nil // an empty file
		}
		return nil, nil
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, val := range x {
			if err := putLower(out, k, val, at); err != nil {
				return nil, err
			}
		}
		return out, nil
	case map[any]any:
		out := make(map[string]any, len(x))
		for k, val := range x {
			if err := putLower(out, fmt.Sprint(k), val, at); err != nil {
				return nil, err
			}
		}
		return out, nil
	case []any:
		out := make([]any, len(x))
		for i, item := range x {
			var err error
			if out[i], err = lowerKeys(item, fmt.Sprintf("%s[%d]", at, i)); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	return v, nil
}

func putLower(out map[string]any, k string, val any, at string) error {
	key := strings.ToLower(k)
	name := key
	if at != "" {
		name = at + "." + key
	}
	if _, dup := out[key]; dup {
		return fmt.Errorf("%s: key given twice, in different case (want each key once)", name)
	}
	v, err := lowerKeys(val, name)
	if err != nil {
		return err
	}
	out[key] = v
	return nil
}
