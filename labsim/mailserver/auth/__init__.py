"""Authentication: passdb/userdb drivers, the PAM engine, password schemes, SASL."""
