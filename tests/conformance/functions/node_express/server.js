'use strict';
// A custom runtime: an express server, started by customRuntimeConfig ["node", "server.js"].

const express = require('express');

const app = express();
app.use(express.raw({ type: '*/*' }));

app.post('/invoke', (req, res) => {
  const rid = req.headers['x-fc-request-id'];
  console.log(`FC Invoke Start RequestId: ${rid}`);
  res.send(`express got ${req.body.toString()}`);
  console.log(`FC Invoke End RequestId: ${rid}`);
});

app.post('/initialize', (req, res) => {
  res.send('');
});

const port = process.env.FC_CUSTOM_LISTEN_PORT || 9000;
app.listen(port, '0.0.0.0', () => console.log(`listening on ${port}`));
