"""One module per benchmark scenario; each ``run(stack, ...)`` returns a JSON-able dict."""
