// Hydro's web UI: the one piece of hand-written script, copy buttons. A button with data-copy="ID" copies
// the text of the element with that id (a read-only textarea or input) to the clipboard and says so.
document.addEventListener("click", function (event) {
  var button = event.target.closest("button[data-copy]");
  if (!button) return;
  var source = document.getElementById(button.dataset.copy);
  if (!source) return;
  var text = source.value !== undefined ? source.value : source.textContent;
  var done = function () {
    button.textContent = "Copied";
    setTimeout(function () { button.textContent = button.dataset.label || "Copy"; }, 2000);
  };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text).then(done);
  } else {
    source.select();
    document.execCommand("copy");
    done();
  }
});

// The upload form sends the chosen .tar.gz itself as the request body (what the API takes), with the
// session's CSRF token in its header, and shows the answer (or the API's message) below the form.
document.addEventListener("submit", function (event) {
  var form = event.target;
  if (!form.matches("form[data-upload]")) return;
  event.preventDefault();
  var model = form.querySelector("[name=model]").value.trim();
  var file = form.querySelector("[type=file]").files[0];
  var result = document.getElementById("upload-result");
  var headers = JSON.parse(document.body.getAttribute("hx-headers") || "{}");
  headers["Content-Type"] = "application/gzip";
  headers["HX-Request"] = "true";
  result.textContent = "Uploading…";
  fetch(form.getAttribute("action") + encodeURIComponent(model) + "/versions", {
    method: "POST", body: file, headers: headers, credentials: "same-origin"
  }).then(function (response) { return response.text(); })
    .then(function (html) { result.innerHTML = html; })
    .catch(function (error) { result.textContent = "The upload failed: " + error; });
});
