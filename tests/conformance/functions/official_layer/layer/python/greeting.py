GREETING = "hello from the official layer"
