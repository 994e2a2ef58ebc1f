// The product list's query parameters, validated with the catalog's rules and messages
// (ProductFilterSerializer on Django REST framework), and its page links built the same way.
package catalogreads

import java.io.ByteArrayOutputStream
import java.math.BigDecimal
import java.util.Locale

data class FieldError(val field: String, val code: String, val message: String)

/** minPrice/maxPrice: null when absent, else a numeric literal for PostgreSQL. */
data class Filters(
    var q: String = "",
    var category: String = "",
    var minPrice: String? = null,
    var maxPrice: String? = null,
    var inStock: Boolean? = null,
    var ordering: String = "sku"
)

val ORDERINGS = listOf("sku", "-sku", "name", "-name", "price", "-price", "created_at", "-created_at")

/** Python's parse_qsl(keep_blank_values=True): pairs in order, `+` is a space. */
fun parseQuery(raw: String): List<Pair<String, String>> =
    raw.split("&").filter { it.isNotEmpty() }.map { part ->
        val eq = part.indexOf('=')
        if (eq < 0) unquotePlus(part) to "" else unquotePlus(part.substring(0, eq)) to unquotePlus(part.substring(eq + 1))
    }

/** %XX decoded to bytes (null at a malformed escape when `strict`). */
fun percentDecode(text: String, strict: Boolean): ByteArray? {
    val bytes = text.toByteArray(Charsets.UTF_8)
    val out = ByteArrayOutputStream(bytes.size)
    var i = 0
    while (i < bytes.size) {
        val escaped = bytes[i] == '%'.toByte() && i + 2 < bytes.size
        val high = if (escaped) Character.digit(bytes[i + 1].toInt(), 16) else -1
        val low = if (escaped) Character.digit(bytes[i + 2].toInt(), 16) else -1
        if (high >= 0 && low >= 0) {
            out.write(high * 16 + low)
            i += 3
        } else if (bytes[i] == '%'.toByte() && strict) {
            return null
        } else {
            out.write(bytes[i].toInt())
            i += 1
        }
    }
    return out.toByteArray()
}

/** Python's unquote_plus: %XX bytes decoded as UTF-8, errors="replace". */
fun unquotePlus(text: String): String = String(percentDecode(text.replace('+', ' '), false)!!, Charsets.UTF_8)

/** Python's urllib.parse.quote_plus. */
fun quotePlus(text: String): String = buildString {
    for (raw in text.toByteArray(Charsets.UTF_8)) {
        val c = raw.toInt() and 0xff
        when {
            c in 'A'.toInt()..'Z'.toInt() || c in 'a'.toInt()..'z'.toInt() || c in '0'.toInt()..'9'.toInt() ||
                "_.-~".indexOf(c.toChar()) >= 0 -> append(c.toChar())
            c == ' '.toInt() -> append('+')
            else -> append(String.format("%%%02X", c))
        }
    }
}

/** DRF's replace_query_param / remove_query_param (page 0): keys sorted, page replaced or dropped. */
fun pageUrl(base: String, raw: String, page: Long): String {
    val groups = sortedMapOf<String, MutableList<String>>()
    for ((name, value) in parseQuery(raw)) groups.getOrPut(name) { mutableListOf() }.add(value)
    if (page == 0L) groups.remove("page") else groups["page"] = mutableListOf(page.toString())
    val parts = groups.flatMap { (name, values) -> values.map { quotePlus(name) + "=" + quotePlus(it) } }
    return if (parts.isEmpty()) base else base + "?" + parts.joinToString("&")
}

/** Python's str.isspace() for one UTF-16 unit (every such character is in the BMP). */
fun pythonSpace(c: Char): Boolean =
    Character.isSpaceChar(c) || c in '\u0009'..'\u000d' || c in '\u001c'..'\u001f' || c == '\u0085'

fun strip(text: String): String = text.trim(::pythonSpace)

private fun length(text: String) = text.codePointCount(0, text.length)

private val INTEGER = Regex("^([+-]?)([0-9]+(?:_[0-9]+)*)$")

/** Python's int() over a string; null when it is not one; beyond a Long it saturates. */
fun pythonInt(text: String): Long? {
    val m = INTEGER.matchEntire(strip(text)) ?: return null
    val (sign, digits) = m.destructured
    return (sign + digits.replace("_", "")).toLongOrNull() ?: if (sign == "-") Long.MIN_VALUE else Long.MAX_VALUE
}

private val DECIMAL = Regex(
    "^([+-]?)(?:([0-9]+(?:_[0-9]+)*)(?:\\.([0-9]+(?:_[0-9]+)*)?)?|\\.([0-9]+(?:_[0-9]+)*))(?:[eE]([+-]?[0-9]+(?:_[0-9]+)*))?$"
)

private class Check {
    val errors = mutableListOf<FieldError>()
    fun fail(field: String, code: String, message: String) {
        errors.add(FieldError(field, code, message))
    }
}

private const val TOO_MANY_DIGITS = "Ensure that there are no more than 12 digits in total."

private fun decimalField(c: Check, field: String, raw: String): String? {
    val text = strip(raw)
    if (length(text) > 1000) {
        c.fail(field, "max_string_length", "String value too large.")
        return null
    }
    val m = DECIMAL.matchEntire(text)
    if (m == null) {
        c.fail(field, "invalid", "A valid number is required.")
        return null
    }
    val (sign, wholeText, fractionText, onlyFraction, exponentText) = m.destructured
    val fraction = (fractionText + onlyFraction).replace("_", "")
    var exponent = if (exponentText == "") 0 else exponentText.replace("_", "").toIntOrNull() ?: Int.MAX_VALUE
    if (exponent > 1000 || exponent < -1000) {
        c.fail(field, "max_digits", TOO_MANY_DIGITS)
        return null
    }
    exponent -= fraction.length
    val digits = (wholeText.replace("_", "") + fraction).trimStart('0').ifEmpty { "0" }
    val (total, wholeDigits, places) = when {
        exponent >= 0 -> Triple(digits.length + exponent, digits.length + exponent, 0)
        digits.length > -exponent -> Triple(digits.length, digits.length + exponent, -exponent)
        else -> Triple(-exponent, 0, -exponent)
    }
    when {
        total > 12 -> c.fail(field, "max_digits", TOO_MANY_DIGITS)
        places > 2 -> c.fail(field, "max_decimal_places", "Ensure that there are no more than 2 decimal places.")
        wholeDigits > 10 ->
            c.fail(field, "max_whole_digits", "Ensure that there are no more than 10 digits before the decimal point.")
        sign == "-" && digits != "0" -> c.fail(field, "min_value", "Ensure this value is greater than or equal to 0.")
        else -> return "$sign${digits}e$exponent"
    }
    return null
}

private fun charChecks(c: Check, field: String, value: String, max: Int): Boolean {
    val before = c.errors.size
    if (length(value) > max) c.fail(field, "max_length", "Ensure this field has no more than $max characters.")
    if (value.contains('\u0000')) c.fail(field, "null_characters_not_allowed", "Null characters are not allowed.")
    return c.errors.size == before
}

private val DECIMAL_TAIL = Regex("\\.0*\\s*$")

private fun integerField(c: Check, field: String, raw: String, max: Long) {
    if (length(raw) > 1000) {
        c.fail(field, "max_string_length", "String value too large.")
        return
    }
    val value = pythonInt(DECIMAL_TAIL.replace(raw, ""))
    if (value == null) {
        c.fail(field, "invalid", "A valid integer is required.")
        return
    }
    if (max > 0 && value > max) c.fail(field, "max_value", "Ensure this value is less than or equal to $max.")
    if (value < 1) c.fail(field, "min_value", "Ensure this value is greater than or equal to 1.")
}

private val SLUG = Regex("^[-a-zA-Z0-9_]+$")
private val TRUE_WORDS = setOf("t", "y", "yes", "true", "on", "1")
private val FALSE_WORDS = setOf("f", "n", "no", "false", "off", "0")

/** The last value of each name, as Django's QueryDict gives it. */
fun lastValues(pairs: List<Pair<String, String>>): Map<String, String> = pairs.toMap()

/** The filters, or the field errors in the serializer's field order. */
fun filtersParse(params: Map<String, String>): Pair<Filters, List<FieldError>> {
    val c = Check()
    val f = Filters()
    // A blank optional parameter counts as absent (DRF's html-input rule for query parameters).
    fun given(name: String): String? = params[name]?.takeIf { it.isNotEmpty() }
    params["q"]?.let { q ->
        val value = strip(q)
        if (charChecks(c, "q", value, 100)) f.q = value
    }
    given("category")?.let { category ->
        val value = strip(category)
        if (value == "") {
            c.fail("category", "blank", "This field may not be blank.")
        } else {
            var valid = charChecks(c, "category", value, 64)
            if (!SLUG.matches(value)) {
                c.fail("category", "invalid", "Enter a valid \"slug\" consisting of letters, numbers, underscores or hyphens.")
                valid = false
            }
            if (valid) f.category = value
        }
    }
    given("min_price")?.let { f.minPrice = decimalField(c, "min_price", it) }
    given("max_price")?.let { f.maxPrice = decimalField(c, "max_price", it) }
    given("in_stock")?.let {
        val lower = it.toLowerCase(Locale.ROOT)
        when (lower) {
            in TRUE_WORDS -> f.inStock = true
            in FALSE_WORDS -> f.inStock = false
            "null" -> {}
            else -> c.fail("in_stock", "invalid", "Must be a valid boolean.")
        }
    }
    given("ordering")?.let {
        if (it in ORDERINGS) f.ordering = it else c.fail("ordering", "invalid_choice", "\"$it\" is not a valid choice.")
    }
    given("page")?.let { integerField(c, "page", it, 0) }
    given("page_size")?.let { integerField(c, "page_size", it, 100) }
    if (c.errors.isNotEmpty()) return f to c.errors
    val (low, high) = f.minPrice to f.maxPrice
    if (low != null && high != null && BigDecimal(low) > BigDecimal(high)) {
        return f to listOf(FieldError("min_price", "invalid", "must not exceed max_price"))
    }
    return f to emptyList()
}

/** The paginator's page size: the parameter when a positive integer (capped at 100), else 20. */
fun pageSize(params: Map<String, String>): Long {
    val value = pythonInt(params["page_size"] ?: "")
    return if (value == null || value <= 0) 20 else minOf(value, 100L)
}
