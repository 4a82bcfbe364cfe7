// The API reference page: Swagger UI on the gateway's public OpenAPI document, whose URL
// the page gives in `data-spec` (relative, so the page works behind a path prefix). A
// file of its own, since the page's Content-Security-Policy allows no inline script.
window.addEventListener("load", function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.dataset.spec,
    domNode: root,
    deepLinking: true,
    displayOperationId: true,
    // The badge would send the document to validator.swagger.io.
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout"
  });
});
