// The comment is required to reject or request changes: say so before the post, beside the field.
(function () {
  "use strict";
  const form = document.getElementById("decision-form");
  if (!form) return;
  const comment = form.elements.comment;
  form.addEventListener("change", function () {
    const decision = form.elements.decision.value;
    comment.required = decision === "reject" || decision === "request_changes";
  });
})();
