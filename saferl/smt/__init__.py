"""SMT encoding and solving through pySMT (z3 by default, cvc5 to cross-check)."""
