package item_test

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/benchharness/benchharness/server/internal/item"
)

func TestNewValidate(t *testing.T) {
	tests := []struct {
		name  string
		in    item.New
		field string // empty: valid
	}{
		{"minimal", item.New{Name: "a"}, ""},
		{"max name", item.New{Name: strings.Repeat("é", 200)}, ""},
		{"max description", item.New{Name: "a", Description: strings.Repeat("x", 2000)}, ""},
		{"sql looking", item.New{Name: "'); DROP TABLE items;--"}, ""},
		{"empty name", item.New{}, "name"},
		{"blank name", item.New{Name: "   "}, "name"},
		{"long name", item.New{Name: strings.Repeat("é", 201)}, "name"},
		{"long description", item.New{Name: "a", Description: strings.Repeat("x", 2001)}, "description"},
		{"invalid utf8 name", item.New{Name: "a\xff"}, "name"},
		{"invalid utf8 description", item.New{Name: "a", Description: "\xc3"}, "description"},
		{"nul in name", item.New{Name: "a\x00b"}, "name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.in.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			var ve *item.ValidationError
			if !errors.As(err, &ve) || ve.Field != tt.field || !errors.Is(err, item.ErrInvalid) {
				t.Fatalf("Validate() = %v, want a validation error on %q matching ErrInvalid", err, tt.field)
			}
		})
	}
}

func TestNewPage(t *testing.T) {
	tests := []struct {
		number, size int
		ok           bool
		offset       int
	}{
		{1, 1, true, 0},
		{1, 20, true, 0},
		{3, 20, true, 40},
		{1, 100, true, 0},
		{101, 100, true, 10_000},
		{10_001, 1, true, 10_000},
		{102, 100, false, 0},
		{10_002, 1, false, 0},
		{1_000_000_000, 100, false, 0}, // an OFFSET of 1e11 rows
		{math.MaxInt, 100, false, 0},
		{0, 20, false, 0},
		{-1, 20, false, 0},
		{1, 0, false, 0},
		{1, 101, false, 0},
		{1, -5, false, 0},
		{1_000_000_001, 20, false, 0},
	}
	for _, tt := range tests {
		p, err := item.NewPage(tt.number, tt.size)
		if (err == nil) != tt.ok {
			t.Errorf("NewPage(%d, %d) error = %v, want ok=%v", tt.number, tt.size, err, tt.ok)
			continue
		}
		if err != nil && !errors.Is(err, item.ErrInvalid) {
			t.Errorf("NewPage(%d, %d) error %v does not match ErrInvalid", tt.number, tt.size, err)
		}
		if tt.ok && p.Offset() != tt.offset {
			t.Errorf("NewPage(%d, %d).Offset() = %d, want %d", tt.number, tt.size, p.Offset(), tt.offset)
		}
	}
}
