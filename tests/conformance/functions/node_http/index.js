'use strict';

const getRawBody = require('raw-body');

exports.handler = (req, resp, context) => {
  getRawBody(req, (err, body) => {
    if (err) {
      resp.setStatusCode(400);
      resp.send(err.message);
      return;
    }
    resp.setStatusCode(201);
    resp.setHeader('content-type', 'application/json');
    resp.send(JSON.stringify({
      method: req.method, path: req.path, queries: req.queries, body: body.toString(),
    }));
  });
};
