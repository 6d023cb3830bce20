package client

import (
	"context"
	"testing"

	"github.com/acmectl/acmectl/challenges"
)

// keyedSolver serializes challenges by identifier (a stand-in for a DNS
// provider holding one TXT value per name).
type keyedSolver struct{}

func (keyedSolver) Present(context.Context, challenges.Challenge) error { return nil }
func (keyedSolver) CleanUp(context.Context, challenges.Challenge) error { return nil }
func (keyedSolver) SerialKey(ch challenges.Challenge) string            { return ch.Identifier.Value }

type plainSolver struct{}

func (plainSolver) Present(context.Context, challenges.Challenge) error { return nil }
func (plainSolver) CleanUp(context.Context, challenges.Challenge) error { return nil }

// Challenges a Serializer keys alike go one per round, in order; all
// others go in the first round with the first of each key.
func TestSerialRounds(t *testing.T) {
	p := func(s challenges.Solver, id string, wildcard bool) *presented {
		return &presented{solver: s, ch: challenges.Challenge{Identifier: challenges.Identifier{Value: id}, Wildcard: wildcard}}
	}
	wild, apex, other := p(keyedSolver{}, "a.test", true), p(keyedSolver{}, "a.test", false), p(keyedSolver{}, "b.test", false)
	plain1, plain2 := p(plainSolver{}, "a.test", false), p(plainSolver{}, "c.test", false)
	rounds := serialRounds([]*presented{wild, plain1, apex, other, plain2})
	if len(rounds) != 2 {
		t.Fatalf("%d rounds; want 2", len(rounds))
	}
	want := [][]*presented{{wild, plain1, other, plain2}, {apex}}
	for i := range want {
		if len(rounds[i]) != len(want[i]) {
			t.Fatalf("round %d has %d challenges; want %d", i, len(rounds[i]), len(want[i]))
		}
		for j := range want[i] {
			if rounds[i][j] != want[i][j] {
				t.Fatalf("round %d, place %d: %s (wildcard %v)", i, j, rounds[i][j].ch.Identifier.Value, rounds[i][j].ch.Wildcard)
			}
		}
	}
	if r := serialRounds([]*presented{plain1, plain2}); len(r) != 1 || len(r[0]) != 2 {
		t.Fatalf("without a Serializer: %d rounds; want one with both", len(r))
	}
}
