'use strict';

let connection = null;

exports.initializer = (context, callback) => {
  connection = 'connected for ' + context.function.name;
  console.log('initializer: ' + connection);
  callback(null, '');
};

exports.handler = (event, context, callback) => {
  callback(null, connection);
};

exports.preStop = (context, callback) => {
  console.log('preStop: closing ' + connection);
  connection = null;
  callback(null, '');
};
