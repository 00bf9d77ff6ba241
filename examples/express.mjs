// Express with websession/express, the drop-in for express-session.
// Run from the repository: npm run build && node examples/express.mjs   (then open http://localhost:3000)
// PORT and SESSION_SECRET are read from the environment. Without SESSION_SECRET a random
// secret is made at start, so sessions end when the process does.
import express from 'express';
import session from 'websession/express';

const app = express();
app.use(
  session({
    secret: process.env.SESSION_SECRET ?? crypto.randomUUID(),
    resave: false,
    saveUninitialized: false,
  }),
);

app.get('/', (req, res) => {
  req.session.views = (req.session.views ?? 0) + 1;
  res.type('text/plain').send(`views: ${req.session.views}\n`);
});

const server = app.listen(Number(process.env.PORT ?? 3000), () => {
  console.log(`listening on http://localhost:${server.address().port}`);
});
