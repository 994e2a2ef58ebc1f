// JSON written the way the Python side writes it: keys in the given order, compact as Django
// REST framework's renderer (U+2028/9 escaped), or Python's json.dumps defaults (ASCII only,
// ", " and ": ") as Django's JsonResponse writes the catch-all 404.
package catalogreads;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

final class Json {
  private final boolean ascii;

  static final Json DRF = new Json(false);
  static final Json PYTHON = new Json(true);

  private Json(boolean ascii) {
    this.ascii = ascii;
  }

  /** An object whose keys keep their order: Json.object("a", 1, "b", "x"). */
  static Map<String, Object> object(Object... pairs) {
    Map<String, Object> map = new LinkedHashMap<>();
    for (int i = 0; i < pairs.length; i += 2) {
      map.put((String) pairs[i], pairs[i + 1]);
    }
    return map;
  }

  String encode(Object value) {
    StringBuilder b = new StringBuilder();
    write(b, value);
    return b.toString();
  }

  private void write(StringBuilder b, Object value) {
    if (value == null) {
      b.append("null");
    } else if (value instanceof Boolean || value instanceof Integer || value instanceof Long) {
      b.append(value);
    } else if (value instanceof String text) {
      string(b, text);
    } else if (value instanceof Map<?, ?> map) {
      b.append('{');
      boolean first = true;
      for (Map.Entry<?, ?> entry : map.entrySet()) {
        if (!first) b.append(ascii ? ", " : ",");
        first = false;
        string(b, (String) entry.getKey());
        b.append(ascii ? ": " : ":");
        write(b, entry.getValue());
      }
      b.append('}');
    } else if (value instanceof List<?> list) {
      b.append('[');
      for (int i = 0; i < list.size(); i++) {
        if (i > 0) b.append(ascii ? ", " : ",");
        write(b, list.get(i));
      }
      b.append(']');
    } else {
      throw new IllegalArgumentException("Json: unsupported " + value.getClass());
    }
  }

  private void string(StringBuilder b, String text) {
    b.append('"');
    for (int i = 0; i < text.length(); i++) {
      char c = text.charAt(i); // UTF-16 units: ASCII mode escapes each surrogate, as Python does
      switch (c) {
        case '"' -> b.append("\\\"");
        case '\\' -> b.append("\\\\");
        case '\n' -> b.append("\\n");
        case '\r' -> b.append("\\r");
        case '\t' -> b.append("\\t");
        case '\b' -> b.append("\\b");
        case '\f' -> b.append("\\f");
        default -> {
          if (c < 0x20 || c == 0x2028 || c == 0x2029 || (ascii && c >= 0x7f)) {
            b.append(String.format("\\u%04x", (int) c));
          } else {
            b.append(c);
          }
        }
      }
    }
    b.append('"');
  }
}
