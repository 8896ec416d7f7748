"""Masking of secrets (hub.secrets)."""


def test_short_lived_tokens_are_masked_and_only_the_recent_ones_kept():
    from hub.secrets import MAX_EPHEMERAL, mask, register

    configured = register("configured-secret-value-xyz")
    tokens = [register(f"eyJ0eXAi.access-token-{n:04d}.sig", ephemeral=True) for n in range(MAX_EPHEMERAL + 10)]
    line = f"{configured} {tokens[0]} {tokens[-1]}"
    # the configured secret and the newest token stay masked; the oldest token was let go
    assert mask(line) == f"*** {tokens[0]} ***"
    assert mask(" ".join(tokens[-MAX_EPHEMERAL:])) == " ".join(["***"] * MAX_EPHEMERAL)
