// Starts Swagger UI for /api/v1 from files this site serves itself (it works offline).
window.addEventListener("DOMContentLoaded", function () {
  window.ui = SwaggerUIBundle({
    url: "/api/v1/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    persistAuthorization: false,  // a token typed here is not kept in the browser
    validatorUrl: null,  // no calls to an outside validator
  });
});
