"""Users, institutions and the roles users hold in them."""
