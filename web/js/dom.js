// Small DOM helpers shared by the workbench and the operator view.

/** The element with this id (throws if missing: a page bug, not a user error). */
export function $(id) {
  const el = document.getElementById(id);
  if (!el) throw new Error(`no element #${id}`);
  return el;
}

/** Creates an element: h("td", {class: "x"}, "text", child, ...). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    // Through the CSSOM: the Content-Security-Policy (style-src 'self') blocks style attributes.
    else if (k === "style") el.style.cssText = String(v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** Shows `text` in a result box, marked as an error or not. */
export function show(el, text, isError = false) {
  el.textContent = typeof text === "string" ? text : JSON.stringify(text, null, 2);
  el.classList.toggle("error", isError);
  el.classList.toggle("ok", !isError);
}

/** Parses a JSON text field, with a readable error. */
export function parseJson(text, what) {
  try {
    return JSON.parse(text || "{}");
  } catch (e) {
    throw new Error(`${what} is not valid JSON: ${e.message}`);
  }
}
