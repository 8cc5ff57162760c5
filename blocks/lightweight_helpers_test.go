package blocks

import (
	"errors"
	"strings"
	"testing"
)

// blockCase is one row of the table-driven OutShape/Cost tests of the
// SqueezeNet, SqueezeNext, ShuffleNet, GhostNet and ESPNetv2 families. The
// expected costs are worked out by hand in each table's comments.
type blockCase struct {
	name    string
	spec    Spec
	in      Shape
	out     Shape
	cost    Cost
	wantErr string // substring of the error; empty means valid
	field   string // the field the error must name
}

func runBlockCases(t *testing.T, cases []blockCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := tc.spec.OutShape(tc.in)
			if tc.wantErr != "" {
				if err == nil {
					t.Fatalf("OutShape(%v) = %v, want error containing %q", tc.in, out, tc.wantErr)
				}
				if !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %q does not contain %q", err, tc.wantErr)
				}
				var fe *FieldError
				if !errors.As(err, &fe) || fe.Field != tc.field || fe.Type != tc.spec.Type() {
					t.Fatalf("error %q is not a FieldError of %s on field %q", err, tc.spec.Type(), tc.field)
				}
				return
			}
			if err != nil {
				t.Fatalf("OutShape(%v): %v", tc.in, err)
			}
			if out != tc.out {
				t.Errorf("OutShape(%v) = %v, want %v", tc.in, out, tc.out)
			}
			if got := tc.spec.Cost(tc.in); got != tc.cost {
				t.Errorf("Cost(%v) = %+v, want %+v", tc.in, got, tc.cost)
			}
		})
	}
}
