"How many examples each property test draws: its CI number, times ADVEX_FUZZ_FACTOR under `make fuzz`."
import os


def fuzz_factor() -> int:
    "The multiplier of every property test's example count (1 unless `make fuzz` sets ADVEX_FUZZ_FACTOR)."
    value = os.environ.get("ADVEX_FUZZ_FACTOR", "1")
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"ADVEX_FUZZ_FACTOR must be a positive integer, got {value!r}")
    return int(value)


def examples(n: int) -> int:
    "max_examples for a property test whose deterministic CI run draws n examples."
    return n * fuzz_factor()
