// The product list's query parameters, validated with the catalog's rules and messages
// (ProductFilterSerializer on Django REST framework), and its page links built the same way.
package catalogreads;

import java.io.ByteArrayOutputStream;
import java.math.BigDecimal;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

final class Query {
  private Query() {}

  record FieldError(String field, String code, String message) {}

  /** minPrice/maxPrice: null when absent, else a numeric literal for PostgreSQL. */
  static final class Filters {
    String q = "";
    String category = "";
    String minPrice;
    String maxPrice;
    Boolean inStock;
    String ordering = "sku";
  }

  record Pair(String name, String value) {}

  static final List<String> ORDERINGS =
      List.of("sku", "-sku", "name", "-name", "price", "-price", "created_at", "-created_at");

  /** Python's parse_qsl(keep_blank_values=True): pairs in order, `+` is a space. */
  static List<Pair> parse(String raw) {
    List<Pair> pairs = new ArrayList<>();
    for (String part : raw.split("&")) {
      if (part.isEmpty()) continue;
      int eq = part.indexOf('=');
      String name = eq < 0 ? part : part.substring(0, eq);
      String value = eq < 0 ? "" : part.substring(eq + 1);
      pairs.add(new Pair(unquotePlus(name), unquotePlus(value)));
    }
    return pairs;
  }

  private static int hex(char c) {
    return Character.digit(c, 16);
  }

  /** Python's unquote_plus: %XX bytes decoded as UTF-8, errors="replace". */
  static String unquotePlus(String text) {
    byte[] plain = text.replace('+', ' ').getBytes(StandardCharsets.UTF_8);
    ByteArrayOutputStream out = new ByteArrayOutputStream(plain.length);
    for (int i = 0; i < plain.length; i++) {
      if (plain[i] == '%'
          && i + 2 < plain.length
          && hex((char) plain[i + 1]) >= 0
          && hex((char) plain[i + 2]) >= 0) {
        out.write(hex((char) plain[i + 1]) * 16 + hex((char) plain[i + 2]));
        i += 2;
      } else {
        out.write(plain[i]);
      }
    }
    return out.toString(StandardCharsets.UTF_8);
  }

  /** Python's urllib.parse.quote_plus. */
  static String quotePlus(String text) {
    StringBuilder b = new StringBuilder();
    for (byte raw : text.getBytes(StandardCharsets.UTF_8)) {
      int c = raw & 0xff;
      if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || "_.-~".indexOf(c) >= 0) {
        b.append((char) c);
      } else if (c == ' ') {
        b.append('+');
      } else {
        b.append(String.format("%%%02X", c));
      }
    }
    return b.toString();
  }

  /** DRF's replace_query_param / remove_query_param (page 0): keys sorted, page replaced or dropped. */
  static String pageUrl(String base, String raw, long page) {
    Map<String, List<String>> groups = new TreeMap<>(); // sorted by UTF-16 units, as Python's by code point for these
    for (Pair p : parse(raw)) groups.computeIfAbsent(p.name(), k -> new ArrayList<>()).add(p.value());
    if (page == 0) groups.remove("page");
    else groups.put("page", List.of(Long.toString(page)));
    List<String> parts = new ArrayList<>();
    groups.forEach((name, values) -> values.forEach(v -> parts.add(quotePlus(name) + "=" + quotePlus(v))));
    return parts.isEmpty() ? base : base + "?" + String.join("&", parts);
  }

  /** Python's str.isspace() for one UTF-16 unit (every such character is in the BMP). */
  static boolean pythonSpace(char c) {
    return Character.isSpaceChar(c) || (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x1f) || c == 0x85;
  }

  static String strip(String text) {
    int start = 0, end = text.length();
    while (start < end && pythonSpace(text.charAt(start))) start++;
    while (end > start && pythonSpace(text.charAt(end - 1))) end--;
    return text.substring(start, end);
  }

  private static int length(String text) {
    return text.codePointCount(0, text.length());
  }

  private static final Pattern INTEGER = Pattern.compile("^([+-]?)([0-9]+(?:_[0-9]+)*)$");

  /** Python's int() over a string; null when it is not one; beyond a long it saturates. */
  static Long pythonInt(String text) {
    Matcher m = INTEGER.matcher(strip(text));
    if (!m.matches()) return null;
    try {
      return Long.parseLong(m.group(1) + m.group(2).replace("_", ""));
    } catch (NumberFormatException e) {
      return m.group(1).equals("-") ? Long.MIN_VALUE : Long.MAX_VALUE;
    }
  }

  private static final Pattern DECIMAL =
      Pattern.compile(
          "^([+-]?)(?:([0-9]+(?:_[0-9]+)*)(?:\\.([0-9]+(?:_[0-9]+)*)?)?|\\.([0-9]+(?:_[0-9]+)*))(?:[eE]([+-]?[0-9]+(?:_[0-9]+)*))?$");

  private static final class Check {
    final List<FieldError> errors = new ArrayList<>();

    void fail(String field, String code, String message) {
      errors.add(new FieldError(field, code, message));
    }
  }

  private static String orEmpty(String text) {
    return text == null ? "" : text;
  }

  private static String decimalField(Check c, String field, String raw) {
    String text = strip(raw);
    if (length(text) > 1000) {
      c.fail(field, "max_string_length", "String value too large.");
      return null;
    }
    Matcher m = DECIMAL.matcher(text);
    if (!m.matches()) {
      c.fail(field, "invalid", "A valid number is required.");
      return null;
    }
    String whole = orEmpty(m.group(2)).replace("_", "");
    String fraction = (orEmpty(m.group(3)) + orEmpty(m.group(4))).replace("_", "");
    int exponent;
    try {
      exponent = m.group(5) == null ? 0 : Integer.parseInt(m.group(5).replace("_", ""));
    } catch (NumberFormatException e) {
      exponent = Integer.MAX_VALUE;
    }
    if (exponent > 1000 || exponent < -1000) {
      c.fail(field, "max_digits", "Ensure that there are no more than 12 digits in total.");
      return null;
    }
    exponent -= fraction.length();
    String digits = (whole + fraction).replaceFirst("^0+", "");
    if (digits.isEmpty()) digits = "0";
    int total, wholeDigits, places;
    if (exponent >= 0) {
      total = wholeDigits = digits.length() + exponent;
      places = 0;
    } else if (digits.length() > -exponent) {
      total = digits.length();
      wholeDigits = digits.length() + exponent;
      places = -exponent;
    } else {
      total = places = -exponent;
      wholeDigits = 0;
    }
    if (total > 12) {
      c.fail(field, "max_digits", "Ensure that there are no more than 12 digits in total.");
    } else if (places > 2) {
      c.fail(field, "max_decimal_places", "Ensure that there are no more than 2 decimal places.");
    } else if (wholeDigits > 10) {
      c.fail(field, "max_whole_digits", "Ensure that there are no more than 10 digits before the decimal point.");
    } else if (m.group(1).equals("-") && !digits.equals("0")) {
      c.fail(field, "min_value", "Ensure this value is greater than or equal to 0.");
    } else {
      return m.group(1) + digits + "e" + exponent;
    }
    return null;
  }

  private static boolean charChecks(Check c, String field, String value, int max) {
    int before = c.errors.size();
    if (length(value) > max) {
      c.fail(field, "max_length", "Ensure this field has no more than " + max + " characters.");
    }
    if (value.indexOf('\0') >= 0) {
      c.fail(field, "null_characters_not_allowed", "Null characters are not allowed.");
    }
    return c.errors.size() == before;
  }

  private static final Pattern DECIMAL_TAIL = Pattern.compile("\\.0*\\s*$");

  private static void integerField(Check c, String field, String raw, long max) {
    if (length(raw) > 1000) {
      c.fail(field, "max_string_length", "String value too large.");
      return;
    }
    Long value = pythonInt(DECIMAL_TAIL.matcher(raw).replaceAll(""));
    if (value == null) {
      c.fail(field, "invalid", "A valid integer is required.");
      return;
    }
    if (max > 0 && value > max) {
      c.fail(field, "max_value", "Ensure this value is less than or equal to " + max + ".");
    }
    if (value < 1) {
      c.fail(field, "min_value", "Ensure this value is greater than or equal to 1.");
    }
  }

  private static final Pattern SLUG = Pattern.compile("^[-a-zA-Z0-9_]+$");
  private static final Set<String> TRUE_WORDS = Set.of("t", "y", "yes", "true", "on", "1");
  private static final Set<String> FALSE_WORDS = Set.of("f", "n", "no", "false", "off", "0");

  /** The last value of each name, as Django's QueryDict gives it. */
  static Map<String, String> lastValues(List<Pair> pairs) {
    Map<String, String> values = new HashMap<>();
    for (Pair p : pairs) values.put(p.name(), p.value());
    return values;
  }

  private static boolean given(Map<String, String> params, String name) {
    String value = params.get(name);
    return value != null && !value.isEmpty();
  }

  /** The filters, or the field errors in the serializer's field order (`errors` filled). */
  static Filters parseFilters(Map<String, String> params, List<FieldError> errors) {
    Check c = new Check();
    Filters f = new Filters();
    // A blank optional parameter counts as absent (DRF's html-input rule for query parameters).
    if (params.containsKey("q")) {
      String value = strip(params.get("q"));
      if (charChecks(c, "q", value, 100)) f.q = value;
    }
    if (given(params, "category")) {
      String value = strip(params.get("category"));
      if (value.isEmpty()) {
        c.fail("category", "blank", "This field may not be blank.");
      } else {
        boolean valid = charChecks(c, "category", value, 64);
        if (!SLUG.matcher(value).matches()) {
          c.fail("category", "invalid", "Enter a valid \"slug\" consisting of letters, numbers, underscores or hyphens.");
          valid = false;
        }
        if (valid) f.category = value;
      }
    }
    if (given(params, "min_price")) f.minPrice = decimalField(c, "min_price", params.get("min_price"));
    if (given(params, "max_price")) f.maxPrice = decimalField(c, "max_price", params.get("max_price"));
    if (given(params, "in_stock")) {
      String lower = params.get("in_stock").toLowerCase(Locale.ROOT);
      if (TRUE_WORDS.contains(lower)) f.inStock = true;
      else if (FALSE_WORDS.contains(lower)) f.inStock = false;
      else if (!lower.equals("null")) c.fail("in_stock", "invalid", "Must be a valid boolean.");
    }
    if (given(params, "ordering")) {
      String ordering = params.get("ordering");
      if (ORDERINGS.contains(ordering)) f.ordering = ordering;
      else c.fail("ordering", "invalid_choice", "\"" + ordering + "\" is not a valid choice.");
    }
    if (given(params, "page")) integerField(c, "page", params.get("page"), 0);
    if (given(params, "page_size")) integerField(c, "page_size", params.get("page_size"), 100);
    if (!c.errors.isEmpty()) {
      errors.addAll(c.errors);
    } else if (f.minPrice != null
        && f.maxPrice != null
        && new BigDecimal(f.minPrice).compareTo(new BigDecimal(f.maxPrice)) > 0) {
      errors.add(new FieldError("min_price", "invalid", "must not exceed max_price"));
    }
    return f;
  }

  /** The paginator's page size: the parameter when a positive integer (capped at 100), else 20. */
  static long pageSize(Map<String, String> params) {
    Long value = pythonInt(params.getOrDefault("page_size", ""));
    if (value == null || value <= 0) return 20;
    return Math.min(value, 100);
  }
}
