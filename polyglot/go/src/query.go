// The product list's query parameters, validated with the catalog's rules and messages
// (ProductFilterSerializer on Django REST framework), and its page links built the same way.
package main

import (
	"fmt"
	"math"
	"math/big"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

type fieldError struct{ field, code, message string }

type filters struct {
	q, category        string
	minPrice, maxPrice string // "" when absent; else a numeric literal for PostgreSQL
	inStock            *bool
	ordering           string
}

var orderings = []string{"sku", "-sku", "name", "-name", "price", "-price", "created_at", "-created_at"}

type pair struct{ name, value string }

// parseQuery is Python's parse_qsl(keep_blank_values=True): pairs in order, `+` is a space.
func parseQuery(raw string) []pair {
	var pairs []pair
	for _, part := range strings.Split(raw, "&") {
		if part == "" {
			continue
		}
		name, value, _ := strings.Cut(part, "=")
		pairs = append(pairs, pair{unquotePlus(name), unquotePlus(value)})
	}
	return pairs
}

func isHex(c byte) bool {
	return ('0' <= c && c <= '9') || ('a' <= c && c <= 'f') || ('A' <= c && c <= 'F')
}

func unquotePlus(text string) string {
	plain := strings.ReplaceAll(text, "+", " ")
	out := make([]byte, 0, len(plain))
	for i := 0; i < len(plain); i++ {
		if plain[i] == '%' && i+2 < len(plain) && isHex(plain[i+1]) && isHex(plain[i+2]) {
			value, _ := strconv.ParseUint(plain[i+1:i+3], 16, 8)
			out = append(out, byte(value))
			i += 2
		} else {
			out = append(out, plain[i])
		}
	}
	// errors="replace": each undecodable byte becomes U+FFFD.
	var b strings.Builder
	for rest := out; len(rest) > 0; {
		r, size := utf8.DecodeRune(rest)
		b.WriteRune(r)
		rest = rest[size:]
	}
	return b.String()
}

// quotePlus is Python's urllib.parse.quote_plus.
func quotePlus(text string) string {
	var b strings.Builder
	for i := 0; i < len(text); i++ {
		c := text[i]
		switch {
		case ('A' <= c && c <= 'Z') || ('a' <= c && c <= 'z') || ('0' <= c && c <= '9') || strings.IndexByte("_.-~", c) >= 0:
			b.WriteByte(c)
		case c == ' ':
			b.WriteByte('+')
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// pageURL is DRF's replace_query_param / remove_query_param: keys sorted, page replaced or dropped.
func pageURL(base, raw string, page int64) string {
	groups := map[string][]string{}
	for _, p := range parseQuery(raw) {
		groups[p.name] = append(groups[p.name], p.value)
	}
	if page == 0 {
		delete(groups, "page")
	} else {
		groups["page"] = []string{strconv.FormatInt(page, 10)}
	}
	names := make([]string, 0, len(groups))
	for name := range groups {
		names = append(names, name)
	}
	sort.Strings(names)
	var parts []string
	for _, name := range names {
		for _, value := range groups[name] {
			parts = append(parts, quotePlus(name)+"="+quotePlus(value))
		}
	}
	if len(parts) == 0 {
		return base
	}
	return base + "?" + strings.Join(parts, "&")
}

// pythonSpace is str.isspace(): Unicode white space plus the ASCII separators \x1c-\x1f.
func pythonSpace(r rune) bool { return unicode.IsSpace(r) || (r >= 0x1c && r <= 0x1f) }

var integerText = regexp.MustCompile(`^([+-]?)([0-9]+(?:_[0-9]+)*)$`)

// pythonInt is Python's int() over a string (surrounding space, a sign, underscores between
// digits); a value beyond int64 saturates, which keeps every comparison the callers make.
func pythonInt(text string) (int64, bool) {
	m := integerText.FindStringSubmatch(strings.TrimFunc(text, pythonSpace))
	if m == nil {
		return 0, false
	}
	value, err := strconv.ParseInt(m[1]+strings.ReplaceAll(m[2], "_", ""), 10, 64)
	if err != nil {
		if m[1] == "-" {
			return math.MinInt64, true
		}
		return math.MaxInt64, true
	}
	return value, true
}

var decimalText = regexp.MustCompile(
	`^([+-]?)(?:([0-9]+(?:_[0-9]+)*)(?:\.([0-9]+(?:_[0-9]+)*)?)?|\.([0-9]+(?:_[0-9]+)*))(?:[eE]([+-]?[0-9]+(?:_[0-9]+)*))?$`)

type check struct {
	errors []fieldError
}

func (c *check) fail(field, code, message string) {
	c.errors = append(c.errors, fieldError{field, code, message})
}

func decimalField(c *check, field, raw string) string {
	text := strings.TrimFunc(raw, pythonSpace)
	if utf8.RuneCountInString(text) > 1000 {
		c.fail(field, "max_string_length", "String value too large.")
		return ""
	}
	m := decimalText.FindStringSubmatch(text)
	if m == nil {
		c.fail(field, "invalid", "A valid number is required.")
		return ""
	}
	whole := strings.ReplaceAll(m[2], "_", "")
	fraction := strings.ReplaceAll(m[3]+m[4], "_", "")
	exponent, err := strconv.Atoi(strings.ReplaceAll(m[5], "_", ""))
	if m[5] == "" {
		exponent, err = 0, nil
	}
	if err != nil || exponent > 1000 || exponent < -1000 {
		c.fail(field, "max_digits", "Ensure that there are no more than 12 digits in total.")
		return ""
	}
	exponent -= len(fraction)
	digits := strings.TrimLeft(whole+fraction, "0")
	if digits == "" {
		digits = "0"
	}
	var total, wholeDigits, places int
	switch {
	case exponent >= 0:
		total, wholeDigits, places = len(digits)+exponent, len(digits)+exponent, 0
	case len(digits) > -exponent:
		total, wholeDigits, places = len(digits), len(digits)+exponent, -exponent
	default:
		total, wholeDigits, places = -exponent, 0, -exponent
	}
	switch {
	case total > 12:
		c.fail(field, "max_digits", "Ensure that there are no more than 12 digits in total.")
	case places > 2:
		c.fail(field, "max_decimal_places", "Ensure that there are no more than 2 decimal places.")
	case wholeDigits > 10:
		c.fail(field, "max_whole_digits", "Ensure that there are no more than 10 digits before the decimal point.")
	case m[1] == "-" && digits != "0":
		c.fail(field, "min_value", "Ensure this value is greater than or equal to 0.")
	default:
		return fmt.Sprintf("%s%se%d", m[1], digits, exponent)
	}
	return ""
}

func charChecks(c *check, field, value string, max int) bool {
	before := len(c.errors)
	if utf8.RuneCountInString(value) > max {
		c.fail(field, "max_length", fmt.Sprintf("Ensure this field has no more than %d characters.", max))
	}
	if strings.ContainsRune(value, 0) {
		c.fail(field, "null_characters_not_allowed", "Null characters are not allowed.")
	}
	return len(c.errors) == before
}

var decimalTail = regexp.MustCompile(`\.0*\s*$`)

func integerField(c *check, field, raw string, max int64) {
	if utf8.RuneCountInString(raw) > 1000 {
		c.fail(field, "max_string_length", "String value too large.")
		return
	}
	value, ok := pythonInt(decimalTail.ReplaceAllString(raw, ""))
	if !ok {
		c.fail(field, "invalid", "A valid integer is required.")
		return
	}
	if max > 0 && value > max {
		c.fail(field, "max_value", fmt.Sprintf("Ensure this value is less than or equal to %d.", max))
	}
	if value < 1 {
		c.fail(field, "min_value", "Ensure this value is greater than or equal to 1.")
	}
}

var (
	slugText   = regexp.MustCompile(`^[-a-zA-Z0-9_]+$`)
	trueWords  = map[string]bool{"t": true, "y": true, "yes": true, "true": true, "on": true, "1": true}
	falseWords = map[string]bool{"f": true, "n": true, "no": true, "false": true, "off": true, "0": true}
)

// lastValues keeps the last value of each name, as Django's QueryDict gives it.
func lastValues(pairs []pair) map[string]string {
	values := make(map[string]string, len(pairs))
	for _, p := range pairs {
		values[p.name] = p.value
	}
	return values
}

// filtersParse validates the filters; the field errors come in the serializer's field order.
func filtersParse(params map[string]string) (filters, []fieldError) {
	c := &check{}
	f := filters{ordering: "sku"}
	// A blank optional parameter counts as absent (DRF's html-input rule for query parameters).
	if q, ok := params["q"]; ok {
		value := strings.TrimFunc(q, pythonSpace)
		if charChecks(c, "q", value, 100) {
			f.q = value
		}
	}
	if category := params["category"]; category != "" {
		value := strings.TrimFunc(category, pythonSpace)
		if value == "" {
			c.fail("category", "blank", "This field may not be blank.")
		} else {
			valid := charChecks(c, "category", value, 64)
			if !slugText.MatchString(value) {
				c.fail("category", "invalid", `Enter a valid "slug" consisting of letters, numbers, underscores or hyphens.`)
				valid = false
			}
			if valid {
				f.category = value
			}
		}
	}
	if raw := params["min_price"]; raw != "" {
		f.minPrice = decimalField(c, "min_price", raw)
	}
	if raw := params["max_price"]; raw != "" {
		f.maxPrice = decimalField(c, "max_price", raw)
	}
	if raw := params["in_stock"]; raw != "" {
		lower := strings.ToLower(raw)
		yes, no := trueWords[lower], falseWords[lower]
		switch {
		case yes || no:
			f.inStock = &yes
		case lower != "null":
			c.fail("in_stock", "invalid", "Must be a valid boolean.")
		}
	}
	if ordering := params["ordering"]; ordering != "" {
		known := false
		for _, o := range orderings {
			known = known || o == ordering
		}
		if known {
			f.ordering = ordering
		} else {
			c.fail("ordering", "invalid_choice", fmt.Sprintf(`"%s" is not a valid choice.`, ordering))
		}
	}
	if raw := params["page"]; raw != "" {
		integerField(c, "page", raw, 0)
	}
	if raw := params["page_size"]; raw != "" {
		integerField(c, "page_size", raw, 100)
	}
	if len(c.errors) > 0 {
		return f, c.errors
	}
	if f.minPrice != "" && f.maxPrice != "" {
		low, _ := new(big.Rat).SetString(f.minPrice)
		high, _ := new(big.Rat).SetString(f.maxPrice)
		if low.Cmp(high) > 0 {
			return f, []fieldError{{"min_price", "invalid", "must not exceed max_price"}}
		}
	}
	return f, nil
}

// pageSize is the paginator's: the parameter when a positive integer (capped at 100), else 20.
func pageSize(params map[string]string) int64 {
	value, ok := pythonInt(params["page_size"])
	if !ok || value <= 0 {
		return 20
	}
	if value > 100 {
		return 100
	}
	return value
}
