"""Applications for financing and the decisions taken on them."""
