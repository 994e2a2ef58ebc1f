// The product list's query parameters, validated with the catalog's rules and messages
// (ProductFilterSerializer on Django REST framework), and its page links built the same way.

export interface FieldError {
  field: string;
  code: string;
  message: string;
}

export interface Filters {
  q: string;
  category: string;
  minPrice: string | null;
  maxPrice: string | null;
  inStock: boolean | null;
  ordering: string;
}

export const ORDERINGS = ["sku", "-sku", "name", "-name", "price", "-price", "created_at", "-created_at"];

/** `a=1&b=2` as Python's parse_qsl(keep_blank_values=True): pairs in order, `+` is a space. */
export function parseQuery(raw: string): [string, string][] {
  const pairs: [string, string][] = [];
  for (const part of raw.split("&")) {
    if (!part) continue;
    const at = part.indexOf("=");
    const [name, value] = at < 0 ? [part, ""] : [part.slice(0, at), part.slice(at + 1)];
    pairs.push([unquotePlus(name), unquotePlus(value)]);
  }
  return pairs;
}

function unquotePlus(text: string): string {
  const bytes: number[] = [];
  const plain = text.replace(/\+/g, " ");
  for (let i = 0; i < plain.length; i++) {
    const hex = plain.slice(i + 1, i + 3);
    if (plain[i] === "%" && /^[0-9a-fA-F]{2}$/.test(hex)) {
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else {
      bytes.push(...Buffer.from(plain[i], "utf8"));
    }
  }
  return Buffer.from(bytes).toString("utf8");
}

/** Python's urllib.parse.quote_plus. */
function quotePlus(text: string): string {
  let out = "";
  for (const byte of Buffer.from(text, "utf8")) {
    const ch = String.fromCharCode(byte);
    if (/[A-Za-z0-9_.\-~]/.test(ch)) out += ch;
    else if (ch === " ") out += "+";
    else out += "%" + byte.toString(16).toUpperCase().padStart(2, "0");
  }
  return out;
}

/** DRF's replace_query_param / remove_query_param: keys sorted, the page replaced or dropped. */
export function pageUrl(base: string, raw: string, page: number | null): string {
  const groups = new Map<string, string[]>();
  for (const [name, value] of parseQuery(raw)) groups.set(name, [...(groups.get(name) ?? []), value]);
  if (page === null) groups.delete("page");
  else groups.set("page", [String(page)]);
  const names = [...groups.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const query = names.flatMap((n) => groups.get(n)!.map((v) => `${quotePlus(n)}=${quotePlus(v)}`)).join("&");
  return query ? `${base}?${query}` : base;
}

/** Python's int() over a string: surrounding space, a sign, underscores between digits. */
export function pythonInt(text: string): number | null {
  const match = /^\s*([+-]?)(\d+(?:_\d+)*)\s*$/.exec(text);
  if (!match) return null;
  return Number(match[1] + match[2].replace(/_/g, ""));
}

const DECIMAL = /^([+-]?)(?:(\d+(?:_\d+)*)(?:\.(\d+(?:_\d+)*)?)?|\.(\d+(?:_\d+)*))(?:[eE]([+-]?\d+(?:_\d+)*))?$/;

type Check = { value?: unknown; errors?: FieldError[] };

function fail(field: string, code: string, message: string): Check {
  return { errors: [{ field, code, message }] };
}

function decimalField(field: string, raw: string): Check {
  const text = raw.trim();
  if (text.length > 1000) return fail(field, "max_string_length", "String value too large.");
  const match = DECIMAL.exec(text);
  if (!match) return fail(field, "invalid", "A valid number is required.");
  const whole = (match[2] ?? "").replace(/_/g, "");
  const fraction = (match[3] ?? match[4] ?? "").replace(/_/g, "");
  const exponent = Number((match[5] ?? "0").replace(/_/g, "")) - fraction.length;
  const digits = (whole + fraction).replace(/^0+/, "") || "0";
  let total: number, wholeDigits: number, places: number;
  if (exponent >= 0) [total, wholeDigits, places] = [digits.length + exponent, digits.length + exponent, 0];
  else if (digits.length > -exponent) [total, wholeDigits, places] = [digits.length, digits.length + exponent, -exponent];
  else [total, wholeDigits, places] = [-exponent, 0, -exponent];
  if (total > 12) return fail(field, "max_digits", "Ensure that there are no more than 12 digits in total.");
  if (places > 2) return fail(field, "max_decimal_places", "Ensure that there are no more than 2 decimal places.");
  if (wholeDigits > 10)
    return fail(field, "max_whole_digits", "Ensure that there are no more than 10 digits before the decimal point.");
  const value = `${match[1]}${digits}e${exponent}`;
  if (Number(value) < 0 && digits !== "0")
    return fail(field, "min_value", "Ensure this value is greater than or equal to 0.");
  return { value };
}

const TRUE = new Set(["t", "y", "yes", "true", "on", "1"]);
const FALSE = new Set(["f", "n", "no", "false", "off", "0"]);

function charChecks(field: string, value: string, max: number): FieldError[] {
  const errors: FieldError[] = [];
  if ([...value].length > max)
    errors.push({ field, code: "max_length", message: `Ensure this field has no more than ${max} characters.` });
  if (value.includes("\0")) errors.push({ field, code: "null_characters_not_allowed", message: "Null characters are not allowed." });
  if (/[\ud800-\udfff]/.test(value))
    errors.push({ field, code: "surrogate_characters_not_allowed", message: "Surrogate characters are not allowed." });
  return errors;
}

function integerField(field: string, raw: string, max?: number): Check {
  if (raw.length > 1000) return fail(field, "max_string_length", "String value too large.");
  const value = pythonInt(raw.replace(/\.0*\s*$/, ""));
  if (value === null) return fail(field, "invalid", "A valid integer is required.");
  const errors: FieldError[] = [];
  if (max !== undefined && value > max)
    errors.push({ field, code: "max_value", message: `Ensure this value is less than or equal to ${max}.` });
  if (value < 1) errors.push({ field, code: "min_value", message: "Ensure this value is greater than or equal to 1." });
  return errors.length ? { errors } : { value };
}

/** The last value of each name, as Django's QueryDict gives it. */
export function lastValues(pairs: [string, string][]): Map<string, string> {
  return new Map(pairs);
}

/** Validated filters, or the field errors in the serializer's field order. */
export function filtersParse(params: Map<string, string>): { filters?: Filters; errors?: FieldError[] } {
  const errors: FieldError[] = [];
  const filters: Filters = { q: "", category: "", minPrice: null, maxPrice: null, inStock: null, ordering: "sku" };
  const take = (check: Check) => {
    if (check.errors) errors.push(...check.errors);
    return check.value;
  };
  // A blank optional parameter counts as absent (DRF's html-input rule for query parameters).
  const q = params.get("q");
  if (q !== undefined) {
    const value = q.trim();
    const problems = charChecks("q", value, 100);
    if (problems.length) errors.push(...problems);
    else filters.q = value;
  }
  const category = params.get("category");
  if (category) {
    const value = category.trim();
    if (!value) errors.push({ field: "category", code: "blank", message: "This field may not be blank." });
    else {
      const problems = charChecks("category", value, 64);
      if (!/^[-a-zA-Z0-9_]+$/.test(value))
        problems.push({
          field: "category",
          code: "invalid",
          message: 'Enter a valid "slug" consisting of letters, numbers, underscores or hyphens.',
        });
      if (problems.length) errors.push(...problems);
      else filters.category = value;
    }
  }
  for (const [name, key] of [["min_price", "minPrice"], ["max_price", "maxPrice"]] as const) {
    const raw = params.get(name);
    if (raw) filters[key] = (take(decimalField(name, raw)) as string) ?? null;
  }
  const inStock = params.get("in_stock");
  if (inStock !== undefined && inStock !== "") {
    const lower = inStock.toLowerCase();
    if (TRUE.has(lower)) filters.inStock = true;
    else if (FALSE.has(lower)) filters.inStock = false;
    else if (lower !== "null") errors.push({ field: "in_stock", code: "invalid", message: "Must be a valid boolean." });
  }
  const ordering = params.get("ordering");
  if (ordering) {
    if (ORDERINGS.includes(ordering)) filters.ordering = ordering;
    else errors.push({ field: "ordering", code: "invalid_choice", message: `"${ordering}" is not a valid choice.` });
  }
  const page = params.get("page");
  if (page) take(integerField("page", page));
  const pageSize = params.get("page_size");
  if (pageSize) take(integerField("page_size", pageSize, 100));
  if (errors.length) return { errors };
  if (filters.minPrice !== null && filters.maxPrice !== null && Number(filters.minPrice) > Number(filters.maxPrice))
    return { errors: [{ field: "min_price", code: "invalid", message: "must not exceed max_price" }] };
  return { filters };
}

/** The paginator's page size: the parameter when a positive integer (capped at 100), else 20. */
export function pageSize(params: Map<string, string>): number {
  const value = pythonInt(params.get("page_size") ?? "");
  return value === null || value <= 0 ? 20 : Math.min(value, 100);
}
