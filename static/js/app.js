// Core314 page behaviours that are not live updates. No inline handlers anywhere: the Content-Security-Policy
// forbids them, so elements declare what they do with data attributes and this script wires them up.
(function () {
  "use strict";
  // <select data-autosubmit>: choosing a value submits its form (the filter bars).
  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target && target.matches && target.matches("select[data-autosubmit]") && target.form) {
      target.form.submit();
    }
  });
})();
