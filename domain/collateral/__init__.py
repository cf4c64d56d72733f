"""What secures a loan: the collateral pledged for it (valued, revalued, released or
realised) and the guarantees given for it; the cover they give feeds the loss given
default of the loan's expected credit loss (domain/provisioning)."""
