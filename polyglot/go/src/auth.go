// RS256 access tokens verified against the issuer's JWKS with the standard library, with the
// claims, leeway and messages of servicekit/web/jwt (PyJWT underneath), so a bad token is the
// same problem+json here as in the Python services.
package main

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

type authError struct {
	message, code string
	status        int
	retryAfter    int // seconds, for a 503
}

func (e *authError) Error() string { return e.message }

func invalid(format string, args ...any) *authError {
	return &authError{fmt.Sprintf(format, args...), "invalid_token", 401, 0}
}

type caller struct {
	id      int64
	isStaff bool
}

const leeway = 30 * time.Second

// jwksKeys are the public keys of a JWKS URL: fetched on an unknown kid, at most every
// minRefresh; a failed fetch keeps the keys we have and is reported.
//
// Only a set read after a lookup began proves its kid unknown; one read before it (a fetch not
// allowed yet) may predate a rotation: the lookup says it is stale (servicekit's KeySetStale),
// and the token's age decides.
type jwksKeys struct {
	url        string
	client     *http.Client
	mu         sync.Mutex
	keys       map[string]*rsa.PublicKey
	attempted  time.Time
	readFrom   time.Time // when the download of the set we hold began (zero: never read)
	lastError  string
	minRefresh time.Duration
}

// staleKeys says when the set that lacks a kid was read and in how many seconds a read is allowed.
type staleKeys struct {
	asOf       time.Time
	retryAfter int
}

func newJWKSKeys(url string) *jwksKeys {
	return &jwksKeys{url: url, client: &http.Client{Timeout: 3 * time.Second}, keys: map[string]*rsa.PublicKey{}, minRefresh: 10 * time.Second}
}

func (j *jwksKeys) download() (map[string]*rsa.PublicKey, error) {
	response, err := j.client.Get(j.url)
	if err != nil {
		return nil, err
	}
	defer response.Body.Close()
	if response.StatusCode != 200 {
		return nil, fmt.Errorf("%d from %s", response.StatusCode, j.url)
	}
	var document struct {
		Keys []struct{ Kty, Kid, N, E string } `json:"keys"`
	}
	if err := json.NewDecoder(response.Body).Decode(&document); err != nil {
		return nil, err
	}
	keys := map[string]*rsa.PublicKey{}
	for _, k := range document.Keys {
		if k.Kty != "RSA" || k.Kid == "" {
			continue
		}
		n, errN := base64.RawURLEncoding.DecodeString(k.N)
		e, errE := base64.RawURLEncoding.DecodeString(k.E)
		if errN != nil || errE != nil {
			return nil, fmt.Errorf("key %s: bad modulus or exponent", k.Kid)
		}
		keys[k.Kid] = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
	}
	return keys, nil
}

// key is the kid's key; else the error when the keys are unreadable, or a staleKeys when the set
// lacking it was read before `began` (the lookup's start); nil, "", nil when the kid is unknown.
func (j *jwksKeys) key(kid string, began time.Time) (*rsa.PublicKey, string, *staleKeys) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if key := j.keys[kid]; key != nil {
		return key, "", nil
	}
	if j.url == "" {
		return nil, "", nil
	}
	if time.Since(j.attempted) >= j.minRefresh {
		j.attempted = time.Now()
		if keys, err := j.download(); err != nil {
			j.lastError = err.Error()
		} else {
			j.keys, j.readFrom, j.lastError = keys, j.attempted, ""
		}
	}
	if key := j.keys[kid]; key != nil {
		return key, "", nil
	}
	if j.lastError != "" {
		return nil, j.lastError, nil
	}
	if j.readFrom.Before(began) {
		wait := time.Until(j.attempted.Add(j.minRefresh)).Seconds()
		retry := int(math.Ceil(wait))
		if retry < 1 {
			retry = 1
		}
		return nil, "", &staleKeys{asOf: j.readFrom, retryAfter: retry}
	}
	return nil, "", nil
}

type tokenVerifier struct {
	keys             *jwksKeys
	issuer, audience string
}

func segment(text, what string) ([]byte, *authError) {
	data, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(text, "="))
	if err != nil {
		return nil, invalid("malformed token: Invalid %s padding", what)
	}
	return data, nil
}

func decodeObject(data []byte) (map[string]any, error) {
	decoder := json.NewDecoder(bytes.NewReader(data))
	decoder.UseNumber()
	var value any
	if err := decoder.Decode(&value); err != nil {
		return nil, err
	}
	object, ok := value.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("must be a json object")
	}
	return object, nil
}

// callerFrom is nil for an anonymous request (no Bearer header) and an *authError for a
// header that does not verify.
func (v *tokenVerifier) callerFrom(header string) (*caller, *authError) {
	began := time.Now()
	parts := strings.Fields(header)
	if len(parts) == 0 || strings.ToLower(parts[0]) != "bearer" {
		return nil, nil
	}
	if len(parts) != 2 {
		return nil, &authError{"Authorization header must be 'Bearer <token>'.", "authentication_failed", 401, 0}
	}
	token := parts[1]
	for i := 0; i < len(token); i++ {
		if token[i] >= 0x80 {
			return nil, invalid("'ascii' codec can't decode byte 0x%02x in position %d: ordinal not in range(128)", token[i], i)
		}
	}
	dot := strings.LastIndexByte(token, '.')
	if dot < 0 || !strings.Contains(token[:dot], ".") {
		return nil, invalid("malformed token: Not enough segments")
	}
	signingInput, signatureText := token[:dot], token[dot+1:]
	headerText, payloadText, _ := strings.Cut(signingInput, ".")
	headerData, problem := segment(headerText, "header")
	if problem != nil {
		return nil, problem
	}
	head, err := decodeObject(headerData)
	if err != nil {
		return nil, invalid("malformed token: Invalid header string: %s", err)
	}
	payloadData, problem := segment(payloadText, "payload")
	if problem != nil {
		return nil, problem
	}
	signature, problem := segment(signatureText, "crypto")
	if problem != nil {
		return nil, problem
	}
	kidValue, hasKid := head["kid"]
	kid, isString := kidValue.(string)
	if hasKid && !isString {
		return nil, invalid("malformed token: Key ID header parameter must be a string")
	}
	if head["alg"] != "RS256" {
		return nil, invalid("token must be signed with RS256")
	}
	if kid == "" {
		return nil, invalid("token has no key id")
	}
	key, unavailable, stale := v.keys.key(kid, began)
	if key == nil && unavailable != "" {
		return nil, &authError{fmt.Sprintf("the signing keys could not be read to check key '%s': %s (JWKS unavailable: %s)", kid, kid, unavailable), "verifier_unavailable", 503, 2}
	}
	if key == nil && stale != nil && issuedAt(payloadData) >= float64(stale.asOf.Unix())-leeway.Seconds() {
		// Issued after that set was read: maybe signed by a key published since (a rotation).
		return nil, &authError{fmt.Sprintf("key '%s' is newer than the signing keys read: try again shortly", kid), "verifier_unavailable", 503, stale.retryAfter}
	}
	if key == nil {
		return nil, invalid("unknown signing key '%s'", kid)
	}
	digest := sha256.Sum256([]byte(signingInput))
	if rsa.VerifyPKCS1v15(key, crypto.SHA256, digest[:], signature) != nil {
		return nil, invalid("invalid token: Signature verification failed")
	}
	claims, err := decodeObject(payloadData)
	if err != nil {
		return nil, invalid("invalid token: Invalid payload string: %s", err)
	}
	if problem := v.claimsCheck(claims); problem != nil {
		return nil, problem
	}
	if claims["token_type"] != "access" {
		return nil, invalid("expected a access token")
	}
	id, err := strconv.ParseInt(strings.TrimSpace(claims["sub"].(string)), 10, 64)
	if err != nil {
		return nil, invalid("invalid token: subject is not a user id")
	}
	return &caller{id: id, isStaff: truthy(claims["is_staff"])}, nil
}

// issuedAt is the token's `iat`, unverified (only to tell an old token from a new one); 0 if absent.
func issuedAt(payload []byte) float64 {
	claims, err := decodeObject(payload)
	if err != nil {
		return 0
	}
	if number, ok := claims["iat"].(json.Number); ok {
		if value, err := number.Float64(); err == nil {
			return value
		}
	}
	return 0
}

func intClaim(value any) (int64, bool) {
	number, ok := value.(json.Number)
	if !ok {
		return 0, false
	}
	if whole, err := number.Int64(); err == nil {
		return whole, true
	}
	real, err := number.Float64()
	return int64(real), err == nil
}

// claimsCheck is PyJWT's _validate_claims in its order.
func (v *tokenVerifier) claimsCheck(claims map[string]any) *authError {
	for _, name := range []string{"exp", "iat", "sub", "iss", "aud"} {
		if claims[name] == nil {
			return invalid(`invalid token: Token is missing the "%s" claim`, name)
		}
	}
	now := time.Now()
	iat, ok := intClaim(claims["iat"])
	if !ok {
		return invalid("invalid token: Issued At claim (iat) must be an integer.")
	}
	if time.Unix(iat, 0).After(now.Add(leeway)) {
		return invalid("invalid token: The token is not yet valid (iat)")
	}
	if nbfValue, present := claims["nbf"]; present {
		nbf, ok := intClaim(nbfValue)
		if !ok {
			return invalid("invalid token: Not Before claim (nbf) must be an integer.")
		}
		if time.Unix(nbf, 0).After(now.Add(leeway)) {
			return invalid("invalid token: The token is not yet valid (nbf)")
		}
	}
	exp, ok := intClaim(claims["exp"])
	if !ok {
		return invalid("invalid token: Expiration Time claim (exp) must be an integer.")
	}
	if !time.Unix(exp, 0).After(now.Add(-leeway)) {
		return invalid("token has expired")
	}
	iss, ok := claims["iss"].(string)
	if !ok {
		return invalid("invalid token: Payload Issuer (iss) must be a string")
	}
	if iss != v.issuer {
		return invalid("invalid token: Invalid issuer")
	}
	audiences, matched := []any{claims["aud"]}, false
	if list, isList := claims["aud"].([]any); isList {
		audiences = list
	}
	for _, audience := range audiences {
		text, isString := audience.(string)
		if !isString {
			return invalid("invalid token: Invalid claim format in token")
		}
		matched = matched || text == v.audience
	}
	if !matched {
		return invalid("invalid token: Audience doesn't match")
	}
	if _, isString := claims["sub"].(string); !isString {
		return invalid("invalid token: Subject must be a string")
	}
	if jti, present := claims["jti"]; present {
		if _, isString := jti.(string); !isString {
			return invalid("invalid token: JWT ID must be a string")
		}
	}
	return nil
}

// truthy is Python's bool() of a JSON value.
func truthy(value any) bool {
	switch v := value.(type) {
	case nil:
		return false
	case bool:
		return v
	case string:
		return v != ""
	case json.Number:
		real, err := v.Float64()
		return err != nil || real != 0
	case []any:
		return len(v) > 0
	case map[string]any:
		return len(v) > 0
	}
	return true
}
