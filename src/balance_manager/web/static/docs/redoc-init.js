// Starts ReDoc for /redoc (a file, not an inline script, so the CSP forbids inline code).
const root = document.getElementById("redoc-ui");
Redoc.init(root.dataset.openapiUrl, { hideDownloadButton: false }, root);
