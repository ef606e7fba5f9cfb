package config

import (
	"encoding"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"
)

// checkTable checks a decoded TOML table against the struct type t: every
// key must be the exact toml tag name of one of t's fields (embedded structs
// without a tag contribute their fields at the same level, as go-toml
// decodes them), and every value must have a TOML type the field accepts.
// Nested tables and arrays of tables are checked recursively, so the first
// problem found anywhere is reported with its full dotted path. Keys are
// visited in sorted order, so the error for a given document is stable.
//
// path is the table's own dotted path, already formatted ("" for the
// document).
func checkTable(table map[string]any, t reflect.Type, path string) error {
	fields := tomlFields(t)
	for _, k := range slices.Sorted(maps.Keys(table)) {
		f, ok := fields[k]
		if !ok {
			return unknownKey(path, k, fields)
		}
		if err := checkValue(table[k], f.Type, joinKey(path, k)); err != nil {
			return err
		}
	}
	return nil
}

// unknownKey is the error for key k of the table at path that matches no
// field, with a hint when it differs from a known key only in case.
func unknownKey(path, k string, fields map[string]reflect.StructField) error {
	for _, name := range slices.Sorted(maps.Keys(fields)) {
		if strings.EqualFold(name, k) {
			return fmt.Errorf("config: unknown key %q (keys are case-sensitive: did you mean %q?)", joinKey(path, k), joinKey(path, name))
		}
	}
	return fmt.Errorf("config: unknown key %q", joinKey(path, k))
}

var (
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
	durationType        = reflect.TypeFor[Duration]()
)

// checkValue checks that the decoded TOML value v can be decoded into a Go
// value of type t, recursing into tables and arrays.
func checkValue(v any, t reflect.Type, p string) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(textUnmarshalerType) {
		s, ok := v.(string)
		if !ok {
			want := "a string"
			if t == durationType {
				want = `a duration string such as "10ms"`
			}
			return wrongType(p, want, v)
		}
		if err := reflect.New(t).Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(s)); err != nil {
			return fmt.Errorf("config: %s: %w", p, err)
		}
		return nil
	}
	switch t.Kind() {
	case reflect.String:
		if _, ok := v.(string); !ok {
			return wrongType(p, "a string", v)
		}
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			return wrongType(p, "a boolean", v)
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, ok := v.(int64)
		if !ok {
			return wrongType(p, "an integer", v)
		}
		if reflect.New(t).Elem().OverflowInt(n) {
			return fmt.Errorf("config: %s: %d does not fit in %s", p, n, t.Kind())
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, ok := v.(int64)
		if !ok {
			return wrongType(p, "an integer", v)
		}
		if n < 0 || reflect.New(t).Elem().OverflowUint(uint64(n)) {
			return fmt.Errorf("config: %s: %d does not fit in %s", p, n, t.Kind())
		}
	case reflect.Float32, reflect.Float64:
		if _, ok := v.(float64); !ok {
			return wrongType(p, "a float", v)
		}
	case reflect.Struct:
		sub, ok := v.(map[string]any)
		if !ok {
			return wrongType(p, "a table", v)
		}
		return checkTable(sub, t, p)
	case reflect.Slice, reflect.Array:
		elems, ok := v.([]any)
		if !ok {
			return wrongType(p, "an array", v)
		}
		if t.Kind() == reflect.Array && len(elems) > t.Len() {
			return fmt.Errorf("config: %s: %d elements, at most %d", p, len(elems), t.Len())
		}
		for i, e := range elems {
			if err := checkValue(e, t.Elem(), p+"["+strconv.Itoa(i)+"]"); err != nil {
				return err
			}
		}
	case reflect.Map:
		// A map's keys are data, not names: any key is accepted, and
		// values are checked against the element type.
		if t.Key().Kind() != reflect.String {
			return fmt.Errorf("config: %s: unsupported field type %s", p, t)
		}
		sub, ok := v.(map[string]any)
		if !ok {
			return wrongType(p, "a table", v)
		}
		for _, k := range slices.Sorted(maps.Keys(sub)) {
			if err := checkValue(sub[k], t.Elem(), joinKey(p, k)); err != nil {
				return err
			}
		}
	case reflect.Interface:
		// Any value decodes into an interface.
	default:
		return fmt.Errorf("config: %s: unsupported field type %s", p, t)
	}
	return nil
}

// wrongType is the error for a value of the wrong TOML type.
func wrongType(p string, want string, v any) error {
	return fmt.Errorf("config: %s: want %s, got %s", p, want, tomlTypeName(v))
}

// tomlTypeName names the TOML type of a value decoded into an any.
func tomlTypeName(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case bool:
		return "a boolean"
	case time.Time, toml.LocalDate, toml.LocalDateTime, toml.LocalTime:
		return "a date or time"
	case []any:
		return "an array"
	case map[string]any:
		return "a table"
	default:
		return fmt.Sprintf("%T", v)
	}
}

// tomlFields maps the exact TOML key of each field of struct type t to the
// field, following go-toml's rules: the name is the toml tag up to any
// comma, or the Go field name without a tag; "-" and unexported fields are
// skipped; an embedded struct without a tag contributes its own fields.
func tomlFields(t reflect.Type) map[string]reflect.StructField {
	m := map[string]reflect.StructField{}
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("toml")
		name, _, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if f.Anonymous && name == "" {
			et := f.Type
			if et.Kind() == reflect.Pointer {
				et = et.Elem()
			}
			if et.Kind() == reflect.Struct {
				for k, ef := range tomlFields(et) {
					if _, dup := m[k]; !dup {
						m[k] = ef
					}
				}
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		m[name] = f
	}
	return m
}

// joinKey appends key k to the formatted path p as TOML writes it: dot
// separated, with a key that is not bare (A-Za-z0-9_-) quoted.
func joinKey(p, k string) string {
	if !isBare(k) {
		k = strconv.Quote(k)
	}
	if p == "" {
		return k
	}
	return p + "." + k
}

// formatPath formats a go-toml key path as joinKey does.
func formatPath(key []string) string {
	p := ""
	for _, k := range key {
		p = joinKey(p, k)
	}
	return p
}

// isBare reports whether k is a TOML bare key.
func isBare(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
