"""fcctl: one module per subcommand group; talks to fcd over HTTP only, via fcd.client."""
