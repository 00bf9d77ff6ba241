// Shared by the fetch-handler servers: the request's path and a text response, done the same way in both.

/** The path of a Request's URL, without building a URL object. */
export function pathOf(request) {
  const url = request.url;
  const start = url.indexOf('/', url.indexOf('//') + 2);
  const query = url.indexOf('?', start);
  return query < 0 ? url.slice(start) : url.slice(start, query);
}

/** A 200 text/plain response. */
export function text(body) {
  return new Response(body, { headers: { 'content-type': 'text/plain; charset=utf-8' } });
}
