// Package args decodes a governed tool's JSON arguments object strictly, so
// that what is authorized is exactly what runs.
//
// encoding/json alone merges duplicate keys (the last one wins) and matches
// object keys to struct fields case-insensitively, so {"argv":["ls"],
// "ARGV":["rm","-rf","/"]} could be checked as one value and executed as
// another. Decode walks the document's tokens first and refuses, before
// anything is decoded or authorized:
//
//   - anything but one JSON object (trailing data included), invalid UTF-8,
//     or more than MaxBytes bytes or MaxDepth levels of nesting;
//   - a key given twice in the same object, at any depth;
//   - two keys of the same object that differ only in case (Unicode simple
//     folding, so "K" (U+212A KELVIN SIGN) and "k" collide), at any depth,
//     map keys included: environment names differing only in case are
//     refused too;
//   - a top-level key that is not exactly the json name of a field of the
//     destination struct (unknown fields and case variants of known ones);
//   - null as a value anywhere (a field is either given or absent).
//
// Only then is the object decoded into the destination with
// DisallowUnknownFields, which now can only assign.
package args

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"unicode/utf8"
)

// MaxBytes bounds an arguments document: 64 KiB.
const MaxBytes = 64 << 10

// MaxDepth bounds the nesting of arrays and objects.
const MaxDepth = 16

// ErrInvalid is wrapped by every error Decode returns. Messages name keys
// (truncated), never values.
var ErrInvalid = errors.New("invalid tool arguments")

// Decode decodes data, a JSON object, into dst, a pointer to a struct whose
// fields carry json tags, after the checks in the package documentation.
// Errors wrap ErrInvalid.
func Decode(data []byte, dst any) error {
	names, err := fieldNames(dst)
	if err != nil {
		return err
	}
	if err := Check(data, names); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return fmt.Errorf("%w: %s", ErrInvalid, describe(err))
	}
	return nil
}

// Check runs the token walk of Decode on data: it returns nil when data is
// one JSON object, within the bounds, without duplicate, case-variant or
// null-valued keys, whose top-level keys are all in names (exact spelling).
func Check(data []byte, names map[string]bool) error {
	if len(data) > MaxBytes {
		return fmt.Errorf("%w: %d bytes, at most %d", ErrInvalid, len(data), MaxBytes)
	}
	if !utf8.Valid(data) {
		return fmt.Errorf("%w: not valid UTF-8", ErrInvalid)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("%w: %s", ErrInvalid, describe(err))
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return fmt.Errorf("%w: want a JSON object", ErrInvalid)
	}
	if err := walkObject(dec, 1, names); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("%w: data after the arguments object", ErrInvalid)
	}
	return nil
}

// walkObject reads the members of an object whose '{' was read, up to and
// including its '}'. names, if not nil, are the only keys allowed.
func walkObject(dec *json.Decoder, depth int, names map[string]bool) error {
	seen := map[string]string{} // folded key → key
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("%w: %s", ErrInvalid, describe(err))
		}
		key := tok.(string) // json.Decoder guarantees a string key here
		if prev, dup := seen[fold(key)]; dup {
			if prev == key {
				return fmt.Errorf("%w: key %s given twice", ErrInvalid, quote(key))
			}
			return fmt.Errorf("%w: keys %s and %s differ only in case", ErrInvalid, quote(prev), quote(key))
		}
		seen[fold(key)] = key
		if names != nil && !names[key] {
			return fmt.Errorf("%w: unknown key %s", ErrInvalid, quote(key))
		}
		if err := walkValue(dec, depth, key); err != nil {
			return err
		}
	}
	_, err := dec.Token() // '}'
	if err != nil {
		return fmt.Errorf("%w: %s", ErrInvalid, describe(err))
	}
	return nil
}

// walkValue reads one value.
func walkValue(dec *json.Decoder, depth int, key string) error {
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("%w: %s", ErrInvalid, describe(err))
	}
	switch t := tok.(type) {
	case nil:
		return fmt.Errorf("%w: %s is null; omit it instead", ErrInvalid, quote(key))
	case json.Delim:
		if depth+1 > MaxDepth {
			return fmt.Errorf("%w: nested deeper than %d", ErrInvalid, MaxDepth)
		}
		if t == '{' {
			return walkObject(dec, depth+1, nil)
		}
		for dec.More() {
			if err := walkValue(dec, depth+1, key); err != nil {
				return err
			}
		}
		if _, err := dec.Token(); err != nil { // ']'
			return fmt.Errorf("%w: %s", ErrInvalid, describe(err))
		}
	}
	return nil
}

// fold is the case-folded form of a key: keys with the same fold are the
// same key to a case-insensitive matcher (encoding/json's included).
func fold(s string) string { return strings.ToLower(strings.ToUpper(s)) }

// quote quotes a key for an error message, cut at 64 bytes.
func quote(k string) string {
	if len(k) > 64 {
		k = strings.ToValidUTF8(k[:64], "") + "…"
	}
	return fmt.Sprintf("%q", k)
}

// describe is a decoding error without the input's values.
func describe(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("malformed JSON at byte %d", se.Offset)
	case errors.As(err, &te):
		return fmt.Sprintf("%s: want %s", quote(te.Field), te.Type)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "truncated JSON"
	}
	return "malformed arguments"
}

// fieldNames are the exact json names of dst's struct fields.
func fieldNames(dst any) (map[string]bool, error) {
	t := reflect.TypeOf(dst)
	if t == nil || t.Kind() != reflect.Pointer || t.Elem().Kind() != reflect.Struct {
		return nil, errors.New("args: Decode needs a pointer to a struct")
	}
	t = t.Elem()
	names := map[string]bool{}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		names[name] = true
	}
	return names, nil
}
