// JSON written the way the Python side writes it: keys in the given order, compact as Django
// REST framework's renderer (U+2028/9 escaped), or Python's json.dumps defaults (ASCII only,
// ", " and ": ") as Django's JsonResponse writes the catch-all 404.
package catalogreads

/** An object whose keys keep their order. */
fun obj(vararg pairs: Pair<String, Any?>): MutableMap<String, Any?> = linkedMapOf(*pairs)

class Json private constructor(private val ascii: Boolean) {
    companion object {
        val DRF = Json(false)
        val PYTHON = Json(true)
    }

    fun encode(value: Any?): String = StringBuilder().also { write(it, value) }.toString()

    private fun write(b: StringBuilder, value: Any?) {
        when (value) {
            null -> b.append("null")
            is Boolean, is Int, is Long -> b.append(value)
            is String -> string(b, value)
            is Map<*, *> -> {
                b.append('{')
                value.entries.forEachIndexed { i, (key, item) ->
                    if (i > 0) b.append(if (ascii) ", " else ",")
                    string(b, key as String)
                    b.append(if (ascii) ": " else ":")
                    write(b, item)
                }
                b.append('}')
            }
            is List<*> -> {
                b.append('[')
                value.forEachIndexed { i, item ->
                    if (i > 0) b.append(if (ascii) ", " else ",")
                    write(b, item)
                }
                b.append(']')
            }
            else -> throw IllegalArgumentException("Json: unsupported ${value.javaClass}")
        }
    }

    private fun string(b: StringBuilder, text: String) {
        b.append('"')
        for (c in text) { // UTF-16 units: ASCII mode escapes each surrogate, as Python does
            when (c) {
                '"' -> b.append("\\\"")
                '\\' -> b.append("\\\\")
                '\n' -> b.append("\\n")
                '\r' -> b.append("\\r")
                '\t' -> b.append("\\t")
                '\b' -> b.append("\\b")
                '\u000c' -> b.append("\\f")
                else ->
                    if (c < ' ' || c == '\u2028' || c == '\u2029' || (ascii && c.toInt() >= 0x7f)) {
                        b.append(String.format("\\u%04x", c.toInt()))
                    } else {
                        b.append(c)
                    }
            }
        }
        b.append('"')
    }
}
