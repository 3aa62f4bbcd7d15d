package jsonout

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"sort"
	"strconv"
	"strings"
)

// Member is one name and its encoded value.
type Member struct {
	Name  string
	Value []byte
}

// Marshal encodes v as encoding/json would, with two differences: an
// embedded Settings field (or a non-nil *Settings) writes its members in
// place of the field, at any depth; and <, > and &
// are written as they are (output goes to terminals and scripts, not
// into HTML). Field tags, omitempty, embedded structs, maps (sorted by
// key), slices, pointers and json.Marshaler values work as usual.
func Marshal(v any) ([]byte, error) {
	var e encoder
	if err := e.value(reflect.ValueOf(v)); err != nil {
		return nil, err
	}
	return e.b, nil
}

// MarshalIndent is Marshal, indented as json.MarshalIndent does.
func MarshalIndent(v any, indent string) ([]byte, error) {
	b, err := Marshal(v)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	if err := json.Indent(&out, b, "", indent); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// Write prints v to w as one JSON object indented by two spaces and a
// newline: every --json output of tcpka.
func Write(w io.Writer, v any) error {
	b, err := MarshalIndent(v, "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

type encoder struct{ b []byte }

// The types the encoder treats apart, as functions: package-level
// variables would be init code at every tcpka start, JSON or not.
func marshalerType() reflect.Type { return reflect.TypeFor[json.Marshaler]() }
func settingsType() reflect.Type  { return reflect.TypeFor[Settings]() }

func (e *encoder) value(v reflect.Value) error {
	if !v.IsValid() {
		e.b = append(e.b, null...)
		return nil
	}
	t := v.Type()
	if t == settingsType() {
		e.b = appendObject(e.b, v.Interface().(Settings).Members())
		return nil
	}
	if v.CanInterface() && t.Implements(marshalerType()) && (t.Kind() != reflect.Pointer || !v.IsNil()) {
		if t.Kind() == reflect.Interface && v.IsNil() {
			e.b = append(e.b, null...)
			return nil
		}
		b, err := v.Interface().(json.Marshaler).MarshalJSON()
		if err != nil {
			return err
		}
		var c bytes.Buffer
		if err := json.Compact(&c, b); err != nil {
			return err
		}
		e.b = append(e.b, c.Bytes()...)
		return nil
	}
	switch t.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			e.b = append(e.b, null...)
			return nil
		}
		return e.value(v.Elem())
	case reflect.Struct:
		ms, err := members(v)
		if err != nil {
			return err
		}
		e.b = appendObject(e.b, ms)
		return nil
	case reflect.Slice:
		if v.IsNil() {
			e.b = append(e.b, null...)
			return nil
		}
		if t.Elem().Kind() == reflect.Uint8 {
			return e.leaf(v)
		}
		fallthrough
	case reflect.Array:
		e.b = append(e.b, '[')
		for i := range v.Len() {
			if i > 0 {
				e.b = append(e.b, ',')
			}
			if err := e.value(v.Index(i)); err != nil {
				return err
			}
		}
		e.b = append(e.b, ']')
		return nil
	case reflect.Map:
		if v.IsNil() {
			e.b = append(e.b, null...)
			return nil
		}
		if t.Key().Kind() != reflect.String {
			return e.leaf(v)
		}
		keys := v.MapKeys()
		sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
		var ms []Member
		for _, k := range keys {
			var sub encoder
			if err := sub.value(v.MapIndex(k)); err != nil {
				return err
			}
			ms = append(ms, Member{k.String(), sub.b})
		}
		e.b = appendObject(e.b, ms)
		return nil
	}
	return e.leaf(v)
}

// leaf encodes a string, number or bool as encoding/json does, HTML left
// alone; integers, booleans and plain strings without the reflection and
// buffers of an Encoder (sockets --json writes one object per socket).
func (e *encoder) leaf(v reflect.Value) error {
	switch v.Kind() {
	case reflect.String:
		e.b = appendString(e.b, v.String())
		return nil
	case reflect.Bool:
		e.b = strconv.AppendBool(e.b, v.Bool())
		return nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		e.b = strconv.AppendInt(e.b, v.Int(), 10)
		return nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		e.b = strconv.AppendUint(e.b, v.Uint(), 10)
		return nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v.Interface()); err != nil {
		return err
	}
	e.b = append(e.b, bytes.TrimRight(buf.Bytes(), "\n")...)
	return nil
}

// members lists a struct's members in field order, embedded structs and
// Inliners flattened in place.
func members(v reflect.Value) ([]Member, error) {
	var out []Member
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		fv := v.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				if fv.IsNil() {
					continue
				}
				fv, ft = fv.Elem(), ft.Elem()
			}
			if ft == settingsType() {
				out = append(out, fv.Interface().(Settings).Members()...)
				continue
			}
			if ft.Kind() == reflect.Struct {
				ms, err := members(fv)
				if err != nil {
					return nil, err
				}
				out = append(out, ms...)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		if strings.Contains(","+opts+",", ",omitempty,") && isEmpty(fv) {
			continue
		}
		var sub encoder
		if err := sub.value(fv); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		out = append(out, Member{name, sub.b})
	}
	return out, nil
}

// isEmpty is encoding/json's omitempty rule.
func isEmpty(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return v.Len() == 0
	case reflect.Bool:
		return !v.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return v.Int() == 0
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return v.Uint() == 0
	case reflect.Float32, reflect.Float64:
		return v.Float() == 0
	case reflect.Interface, reflect.Pointer:
		return v.IsNil()
	}
	return false
}

func appendObject(b []byte, ms []Member) []byte {
	b = append(b, '{')
	for i, m := range ms {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, m.Name)
		b = append(b, ':')
		b = append(b, m.Value...)
	}
	return append(b, '}')
}

func appendString(b []byte, s string) []byte {
	plain := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= 0x80 {
			plain = false
			break
		}
	}
	if plain {
		b = append(b, '"')
		b = append(b, s...)
		return append(b, '"')
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	return append(b, bytes.TrimRight(buf.Bytes(), "\n")...)
}
