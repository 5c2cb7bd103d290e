// ReDoc on /openapi.json, without web fonts (nothing is fetched from outside the service).
Redoc.init("/openapi.json", { hideDownloadButton: false }, document.getElementById("redoc"));
