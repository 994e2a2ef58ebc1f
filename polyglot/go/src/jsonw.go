// JSON written the way the Python side writes it: keys in the given order, compact as Django
// REST framework's renderer (U+2028/9 escaped), or Python's json.dumps defaults (ASCII only,
// ", " and ": ") as Django's JsonResponse writes the catch-all 404.
package main

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf16"
)

type field struct {
	key   string
	value any
}

// object is a JSON object whose keys keep their order.
type object []field

type jsonStyle struct{ ascii bool }

var (
	drfJSON    = jsonStyle{}
	pythonJSON = jsonStyle{ascii: true}
)

func (s jsonStyle) encode(value any) []byte {
	var b strings.Builder
	s.write(&b, value)
	return []byte(b.String())
}

func (s jsonStyle) write(b *strings.Builder, value any) {
	switch v := value.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		b.WriteString(strconv.FormatBool(v))
	case int:
		b.WriteString(strconv.Itoa(v))
	case int64:
		b.WriteString(strconv.FormatInt(v, 10))
	case string:
		s.str(b, v)
	case object:
		separator, colon := ",", ":"
		if s.ascii {
			separator, colon = ", ", ": "
		}
		b.WriteByte('{')
		for i, f := range v {
			if i > 0 {
				b.WriteString(separator)
			}
			s.str(b, f.key)
			b.WriteString(colon)
			s.write(b, f.value)
		}
		b.WriteByte('}')
	case []object:
		items := make([]any, len(v))
		for i := range v {
			items[i] = v[i]
		}
		s.write(b, items)
	case []any:
		separator := ","
		if s.ascii {
			separator = ", "
		}
		b.WriteByte('[')
		for i, item := range v {
			if i > 0 {
				b.WriteString(separator)
			}
			s.write(b, item)
		}
		b.WriteByte(']')
	default:
		panic(fmt.Sprintf("jsonw: unsupported %T", value))
	}
}

var shortEscapes = map[rune]string{
	'"': `\"`, '\\': `\\`, '\n': `\n`, '\r': `\r`, '\t': `\t`, '\b': `\b`, '\f': `\f`,
}

func (s jsonStyle) str(b *strings.Builder, text string) {
	b.WriteByte('"')
	for _, r := range text {
		if short, ok := shortEscapes[r]; ok {
			b.WriteString(short)
			continue
		}
		switch {
		case r < 0x20 || r == 0x2028 || r == 0x2029 || (s.ascii && r >= 0x7f && r <= 0xffff):
			fmt.Fprintf(b, `\u%04x`, r)
		case s.ascii && r > 0xffff:
			high, low := utf16.EncodeRune(r)
			fmt.Fprintf(b, `\u%04x\u%04x`, high, low)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
}
