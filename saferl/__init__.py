"""saferl: verify, repair, distill and shield reinforcement-learning policies.

The public API is curated here; importing saferl pulls in no torch, scikit-learn, typer
or rich.

Example:
    >>> import saferl
    >>> policy = saferl.parse_policy('''
    ... policy demo
    ... obs x: float32
    ... act a: discrete {left = 0, right = 1}
    ... if x <= 0 { a = left } else { a = right }
    ... ''')
    >>> policy.act_dict({"x": 1.0})
    {'a': 1}
"""

from __future__ import annotations

__version__ = "0.1.0"
