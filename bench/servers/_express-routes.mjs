// The Express routes with a session (express-session's req.session API, shared by
// express-session and websession/express).
import { action } from './_common.mjs';

export function routes(app) {
  app.get('/login', (req, res) => {
    req.session.user = 'alice';
    req.session.views = 0;
    res.send('ok');
  });
  app.get('/', (req, res) => {
    if (action === 'none') return res.send('ok');
    if (action === 'read') return res.send(`hi ${req.session.user ?? 'guest'}`);
    if (action === 'write') {
      req.session.views = (req.session.views ?? 0) + 1;
      return res.send(String(req.session.views));
    }
    req.session.user = 'anon';
    res.send('ok');
  });
}
