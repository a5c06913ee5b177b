// Package item holds the items domain: the Item type, the rules a new item must satisfy and the
// paging bounds. It imports nothing else from this module so that every other package can use it.
package item

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits of the API contract (docs/contracts.md, issue 2).
const (
	MaxNameLen        = 200  // characters (runes), not bytes
	MaxDescriptionLen = 2000 // characters (runes)
	DefaultPerPage    = 20
	MaxPerPage        = 100
	// MaxOffset bounds the rows skipped before a page: PostgreSQL reads every skipped row of an
	// OFFSET, so page=1e9&per_page=100 asked it to walk 1e11 index entries.
	MaxOffset = 10_000
)

// ErrInvalid is matched (errors.Is) by every validation failure; the HTTP layer maps it to 400.
var ErrInvalid = errors.New("invalid input")

// ValidationError names the field that failed and why. It matches ErrInvalid.
type ValidationError struct {
	Field  string
	Reason string
}

func (e *ValidationError) Error() string { return e.Field + ": " + e.Reason }

// Is makes errors.Is(err, ErrInvalid) true for every ValidationError.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalid }

// Item is a stored item.
type Item struct {
	ID          int64     `json:"id"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	CreatedAt   time.Time `json:"created_at"`
}

// New is an item to be created, before it has an id.
type New struct {
	Name        string `json:"name"`
	Description string `json:"description"`
}

// Validate checks the contract's rules: name 1..200 characters, description ≤ 2000, both valid
// UTF-8 without NUL (PostgreSQL text cannot store NUL, and rejecting it here keeps it a 400
// instead of a database error).
func (n New) Validate() error {
	if err := checkText("name", n.Name, MaxNameLen); err != nil {
		return err
	}
	if strings.TrimSpace(n.Name) == "" {
		return &ValidationError{Field: "name", Reason: "is required"}
	}
	return checkText("description", n.Description, MaxDescriptionLen)
}

func checkText(field, s string, maxRunes int) error {
	if !utf8.ValidString(s) {
		return &ValidationError{Field: field, Reason: "is not valid UTF-8"}
	}
	if strings.IndexByte(s, 0) >= 0 {
		return &ValidationError{Field: field, Reason: "contains a NUL character"}
	}
	if n := utf8.RuneCountInString(s); n > maxRunes {
		return &ValidationError{Field: field, Reason: fmt.Sprintf("is %d characters, at most %d allowed", n, maxRunes)}
	}
	return nil
}

// Page is a validated page request: Number ≥ 1, Size in 1..MaxPerPage, Offset ≤ MaxOffset.
type Page struct {
	Number int
	Size   int
}

// Offset is the number of rows before the page.
func (p Page) Offset() int { return (p.Number - 1) * p.Size }

// NewPage validates a page number and size.
func NewPage(number, size int) (Page, error) {
	if size < 1 || size > MaxPerPage {
		return Page{}, &ValidationError{Field: "per_page", Reason: fmt.Sprintf("must be between 1 and %d", MaxPerPage)}
	}
	if number < 1 {
		return Page{}, &ValidationError{Field: "page", Reason: "must be at least 1"}
	}
	// Dividing, not multiplying: number may be as large as an int, and the product overflow.
	if number-1 > MaxOffset/size {
		return Page{}, &ValidationError{Field: "page", Reason: fmt.Sprintf("too deep: (page-1) × per_page must be at most %d rows", MaxOffset)}
	}
	return Page{Number: number, Size: size}, nil
}
