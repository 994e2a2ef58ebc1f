// The product events (contracts/catalog.py) applied once, in sequence order per aggregate, the
// way servicekit's inbox does: a cursor per aggregate, the processed event ids, out-of-order
// events parked until their predecessor arrives; every step in the transaction of the change.
package main

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode"
)

type envelope struct {
	EventID       string          `json:"event_id"`
	EventType     string          `json:"event_type"`
	AggregateType string          `json:"aggregate_type"`
	AggregateID   string          `json:"aggregate_id"`
	Sequence      json.Number     `json:"sequence"`
	Version       *json.Number    `json:"envelope_version"`
	Payload       json.RawMessage `json:"payload"`
	sequence      int64
	raw           []byte
}

type outcome string

const (
	applied   outcome = "applied"
	duplicate outcome = "duplicate"
	parked    outcome = "parked"
	rejected  outcome = "rejected"
)

var uuidText = regexp.MustCompile(`(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$`)

// envelopeParse checks the envelope's fields (contracts/envelope.py); an error for anything malformed.
func envelopeParse(raw []byte) (*envelope, error) {
	decoder := json.NewDecoder(bytes.NewReader(raw))
	decoder.UseNumber()
	e := &envelope{raw: raw}
	if err := decoder.Decode(e); err != nil {
		return nil, err
	}
	if e.Version != nil && e.Version.String() != "1" {
		return nil, fmt.Errorf("unsupported envelope version %s", e.Version)
	}
	for name, value := range map[string]string{"event_id": e.EventID, "event_type": e.EventType,
		"aggregate_type": e.AggregateType, "aggregate_id": e.AggregateID} {
		if value == "" {
			return nil, fmt.Errorf("%s missing", name)
		}
	}
	if !uuidText.MatchString(e.EventID) {
		return nil, errors.New("event_id is not a UUID")
	}
	sequence, err := e.Sequence.Int64()
	if err != nil || sequence < 1 {
		return nil, errors.New("bad sequence")
	}
	e.sequence = sequence
	if len(e.Payload) == 0 || e.Payload[0] != '{' {
		return nil, errors.New("no payload")
	}
	return e, nil
}

type payload struct {
	Slug        string `json:"slug"`
	Sku         string `json:"sku"`
	Name        string `json:"name"`
	Description string `json:"description"`
	Category    string `json:"category"`
	Price       string `json:"price"`
	NewPrice    string `json:"new_price"`
	Currency    string `json:"currency"`
	IsActive    bool   `json:"is_active"`
	OnHand      int64  `json:"on_hand"`
	Reserved    int64  `json:"reserved"`
}

// titleCase is Python's str.title() over slug.replace("-", " "), as the catalog names unknown
// categories.
func titleCase(slug string) string {
	var b strings.Builder
	previousLetter := false
	for _, r := range strings.ReplaceAll(slug, "-", " ") {
		if previousLetter {
			b.WriteRune(unicode.ToLower(r))
		} else {
			b.WriteRune(unicode.ToUpper(r))
		}
		previousLetter = unicode.IsLetter(r)
	}
	return b.String()
}

func categoryEnsure(tx *sql.Tx, slug string) error {
	_, err := tx.Exec("INSERT INTO category (slug, name) VALUES ($1, $2) ON CONFLICT (slug) DO NOTHING", slug, titleCase(slug))
	return err
}

func exactlyOne(result sql.Result, err error, sku string) error {
	if err != nil {
		return err
	}
	if n, _ := result.RowsAffected(); n != 1 {
		return fmt.Errorf("no product %s", sku)
	}
	return nil
}

func stockApply(tx *sql.Tx, p payload) error {
	_, err := tx.Exec("UPDATE product SET on_hand = $2, reserved = $3 WHERE sku = $1", p.Sku, p.OnHand, p.Reserved)
	return err
}

var handlers = map[string]func(tx *sql.Tx, p payload) error{
	"catalog.category_created.v1": func(tx *sql.Tx, p payload) error {
		_, err := tx.Exec("INSERT INTO category (slug, name) VALUES ($1, $2) ON CONFLICT (slug) DO UPDATE SET name = EXCLUDED.name", p.Slug, p.Name)
		return err
	},
	"catalog.product_created.v1": func(tx *sql.Tx, p payload) error {
		if err := categoryEnsure(tx, p.Category); err != nil {
			return err
		}
		_, err := tx.Exec(`INSERT INTO product (sku, name, description, category_slug, price, currency, is_active, on_hand, reserved)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
			ON CONFLICT (sku) DO UPDATE SET name = EXCLUDED.name, description = EXCLUDED.description,
			  category_slug = EXCLUDED.category_slug, price = EXCLUDED.price, currency = EXCLUDED.currency,
			  is_active = EXCLUDED.is_active, on_hand = EXCLUDED.on_hand, reserved = EXCLUDED.reserved,
			  updated_at = now()`,
			p.Sku, p.Name, p.Description, p.Category, p.Price, p.Currency, p.IsActive, p.OnHand, p.Reserved)
		return err
	},
	"catalog.product_updated.v1": func(tx *sql.Tx, p payload) error {
		if err := categoryEnsure(tx, p.Category); err != nil {
			return err
		}
		result, err := tx.Exec(`UPDATE product SET name = $2, description = $3, category_slug = $4, is_active = $5, updated_at = now()
			WHERE sku = $1`, p.Sku, p.Name, p.Description, p.Category, p.IsActive)
		return exactlyOne(result, err, p.Sku)
	},
	"catalog.product_price_changed.v1": func(tx *sql.Tx, p payload) error {
		result, err := tx.Exec("UPDATE product SET price = $2, updated_at = now() WHERE sku = $1", p.Sku, p.NewPrice)
		return exactlyOne(result, err, p.Sku)
	},
	// Absolute levels: V1 is V2 without `available`, so both apply the same way.
	"catalog.stock_changed.v1": stockApply,
	"catalog.stock_changed.v2": stockApply,
}

// envelopeProcess applies, skips or parks one envelope inside `tx`; acknowledge after commit.
func envelopeProcess(tx *sql.Tx, e *envelope) (outcome, error) {
	key := []any{e.AggregateType, e.AggregateID}
	if _, err := tx.Exec(`INSERT INTO inbox_cursor (aggregate_type, aggregate_id, last_sequence) VALUES ($1, $2, 0)
		ON CONFLICT DO NOTHING`, key...); err != nil {
		return "", err
	}
	var last int64
	if err := tx.QueryRow("SELECT last_sequence FROM inbox_cursor WHERE aggregate_type = $1 AND aggregate_id = $2 FOR UPDATE",
		key...).Scan(&last); err != nil {
		return "", err
	}
	var seen int
	if err := tx.QueryRow(`SELECT (SELECT count(*) FROM inbox_processed WHERE event_id = $1)
		+ (SELECT count(*) FROM inbox_parked WHERE event_id = $1)`, e.EventID).Scan(&seen); err != nil {
		return "", err
	}
	if seen > 0 || e.sequence <= last {
		return duplicate, nil
	}
	if e.sequence > last+1 {
		_, err := tx.Exec(`INSERT INTO inbox_parked (event_id, aggregate_type, aggregate_id, sequence, envelope)
			VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`, e.EventID, e.AggregateType, e.AggregateID, e.sequence, string(e.raw))
		return parked, err
	}
	sequence := last
	for next := e; next != nil; {
		if handler := handlers[next.EventType]; handler != nil {
			var p payload
			if err := json.Unmarshal(next.Payload, &p); err != nil {
				return "", err
			}
			if err := handler(tx, p); err != nil {
				return "", err
			}
		}
		if _, err := tx.Exec("INSERT INTO inbox_processed (event_id, aggregate_type, aggregate_id, sequence) VALUES ($1, $2, $3, $4)",
			next.EventID, e.AggregateType, e.AggregateID, next.sequence); err != nil {
			return "", err
		}
		sequence = next.sequence
		var raw []byte
		err := tx.QueryRow(`DELETE FROM inbox_parked WHERE aggregate_type = $1 AND aggregate_id = $2 AND sequence = $3
			RETURNING envelope`, e.AggregateType, e.AggregateID, sequence+1).Scan(&raw)
		switch {
		case err == sql.ErrNoRows:
			next = nil
		case err != nil:
			return "", err
		default:
			if next, err = envelopeParse(raw); err != nil {
				return "", err
			}
		}
	}
	_, err := tx.Exec("UPDATE inbox_cursor SET last_sequence = $3 WHERE aggregate_type = $1 AND aggregate_id = $2",
		e.AggregateType, e.AggregateID, sequence)
	return applied, err
}
